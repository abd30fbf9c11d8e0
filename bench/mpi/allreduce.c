/* The plain-C twin of bench/mpi_allreduce.ts: in-place float sum all-reduce of --bytes bytes,
 * --repeats timed calls after --warmup untimed ones, each call preceded by a barrier so that every rank
 * starts it together. --nonblocking uses MPI_Iallreduce + MPI_Wait (what turbine's addon
 * starts), otherwise MPI_Allreduce. Rank 0 prints {"seconds": [...]} as one JSON line. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  long bytes = 1 << 20;
  int repeats = 20, warmup = 3, nonblocking = 0, rank;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--bytes") && i + 1 < argc) bytes = atol(argv[++i]);
    else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--nonblocking")) nonblocking = 1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int count = (int)(bytes / 4);
  float* data = malloc((size_t)count * 4);
  double* seconds = malloc(sizeof(double) * repeats);
  for (int i = 0; i < count; i++) data[i] = 1.0f;
  for (int r = -warmup; r < repeats; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (nonblocking) {
      MPI_Request q;
      MPI_Iallreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &q);
      MPI_Wait(&q, MPI_STATUS_IGNORE);
    } else {
      MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    if (r >= 0) seconds[r] = MPI_Wtime() - t0;
  }
  if (rank == 0) {
    printf("{\"seconds\": [");
    for (int r = 0; r < repeats; r++) printf("%s%.9f", r ? ", " : "", seconds[r]);
    printf("]}\n");
  }
  free(data);
  free(seconds);
  MPI_Finalize();
  return 0;
}
