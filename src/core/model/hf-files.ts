/**
 * Which files of a Hugging Face model folder the loader (hf-load.ts) reads. Pure, no tfjs: the page uses it to
 * read only these files of a picked folder (a BERT-base folder also holds tf_model.h5, flax_model.msgpack, ...,
 * each hundreds of MB), the CLI to read only these files of `--init DIR`.
 */
export const MODEL_FILES = [
  'config.json',
  'vocab.txt',
  'tokenizer.json',
  'tokenizer_config.json',
  'model.safetensors',
  'pytorch_model.bin',
] as const;

/** Index files of a sharded checkpoint: read only to say that sharded checkpoints are not supported. */
const SHARD_INDEXES = ['model.safetensors.index.json', 'pytorch_model.bin.index.json'];

const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/**
 * The paths among `paths` worth reading: the model files by base name, without pytorch_model.bin when
 * model.safetensors is there (the loader prefers it, as transformers does).
 */
export function modelFilesToRead(paths: readonly string[]): string[] {
  const wanted = paths.filter((p) => {
    const base = baseName(p);
    return (MODEL_FILES as readonly string[]).includes(base) || SHARD_INDEXES.includes(base);
  });
  const hasSafetensors = wanted.some((p) => baseName(p) === 'model.safetensors');
  return wanted.filter((p) => !(hasSafetensors && baseName(p) === 'pytorch_model.bin'));
}
