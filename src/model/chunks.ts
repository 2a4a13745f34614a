/**
 * Data arriving in chunks, for the streaming fits (online EM, chunked minibatch VI): the
 * source type, the test that tells a source from one data object, and one pass over it.
 */
import type { BoundModel } from './bound-model';
import type { DataInput } from './data';

/** Chunks of data: an array, iterable or async iterable of data objects, or a function returning a fresh one per pass. */
export type ChunkSource = Iterable<DataInput> | AsyncIterable<DataInput> | (() => Iterable<DataInput> | AsyncIterable<DataInput>);

/** A model that binds data (a compiled Model). */
export interface Bindable {
  bind(data: DataInput): BoundModel;
}

/** Whether `x` is a chunk source rather than one data object. */
export function isChunkSource(x: unknown): x is ChunkSource {
  return typeof x === 'function' || Array.isArray(x) || (x != null && typeof x === 'object' && (Symbol.iterator in x || Symbol.asyncIterator in x));
}

/** Iterates a chunk source once, sync or async. */
export async function* eachChunk(src: Iterable<DataInput> | AsyncIterable<DataInput>): AsyncGenerator<DataInput> {
  if (Symbol.asyncIterator in src) {
    for await (const c of src as AsyncIterable<DataInput>) yield c;
  } else for (const c of src as Iterable<DataInput>) yield c;
}
