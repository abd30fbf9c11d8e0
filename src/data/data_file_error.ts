/**
 * A data file that is missing, unreadable or not what its reader expects (a text corpus, an
 * IDX file, curriculum scores, a cache file); the message starts with the file's path. The CLI
 * reports it as a failed run (exit 1) without a stack.
 * @example throw new DataFileError("data/input.txt: no such text file");
 */
export class DataFileError extends Error {}
