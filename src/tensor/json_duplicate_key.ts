/**
 * The first key that occurs twice in one object of a JSON text, or null. JSON.parse keeps the
 * last of two equal keys without a word, so a file format that must be read one way only (the
 * safetensors header) checks this first. Keys compare as decoded strings: "a" and "\u0061" are
 * the same key. The text must already be valid JSON (JSON.parse accepted it).
 *
 * @example duplicateJsonKey('{"w":{"dtype":"F32","dtype":"F16"}}') // "dtype"
 */
export function duplicateJsonKey(json: string): string | null {
  // One entry per open object (its keys so far) or array (null).
  const open: (Set<string> | null)[] = [];
  let keyNext = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === "\\" ? 2 : 1;
      if (keyNext) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        const keys = open.at(-1)!;
        if (keys.has(key)) return key;
        keys.add(key);
        keyNext = false;
      }
      i = end;
    } else if (c === "{") {
      open.push(new Set());
      keyNext = true;
    } else if (c === "[") {
      open.push(null);
    } else if (c === "}" || c === "]") {
      open.pop();
    } else if (c === ",") {
      keyNext = open.at(-1) instanceof Set;
    }
  }
  return null;
}
