{
  "variables": {
    "portable%": "<!(node -p \"process.env.TURBINE_PORTABLE === '1' ? 1 : 0\")",
    "mpi%": "<!(node -p \"try { require('child_process').execSync('mpicc --showme:version', { stdio: 'ignore' }); 1 } catch { 0 }\")"
  },
  "targets": [
    {
      "target_name": "turbine",
      # A kernel's error that cannot reach JavaScript because its worker thread is being
      # terminated is dropped; without this node-addon-api aborts the whole process
      # ("terminate called after throwing an instance of 'Napi::Error'", seen once when a
      # test killed a DataLoader worker mid-batch).
      "defines": ["NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "sources": ["<!@(node -p \"require('fs').readdirSync('native').filter(f => f.endsWith('.cc')).map(f => 'native/' + f).join(' ')\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
      # -fno-trapping-math: turbine never unmasks floating-point traps, and without it GCC will
      # not turn a float comparison into a select on AVX2 (AVX-512 selects with masks), so no
      # loop around exp_simd's clamps vectorised there: the attention's softmax ran one float
      # at a time on Zen 3. Results are unchanged: IEEE arithmetic, no reassociation.
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "conditions": [
        # 512-bit vectors in the loops GCC vectorises itself: its tuning for recent Xeons prefers
        # 256 bits (see bench/README.md, "AMX and 512-bit vectors", for what that cost).
        ["portable==0", { "cflags_cc": ["-march=native", "-mprefer-vector-width=512"] }]
      ]
    }
  ],
  "conditions": [
    ["mpi==1", {
      "targets": [
        {
          "target_name": "turbine_mpi",
          "sources": ["native/mpi/addon.cc", "native/mpi/engine.cc", "native/mpi/reduce_ops.cc", "native/args.cc"],
          "defines": ["OMPI_SKIP_MPICXX", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
          "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
          "cflags!": ["-fno-exceptions", "-O2"],
          "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
          "cflags_cc": ["-std=c++17", "-O3", "-fopenmp-simd", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(mpicc --showme:compile)"],
          "libraries": ["<!@(mpicc --showme:link)"],
          "conditions": [
            ["portable==0", { "cflags_cc": ["-march=native", "-mprefer-vector-width=512"] }]
          ]
        }
      ]
    }]
  ]
}
