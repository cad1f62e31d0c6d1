/**
 * What a WebGPU adapter says of itself, read one way for every caller: the bench's adapter description
 * (src/core/bench/measure.ts), the calibration's software-adapter check (src/core/calibrate.ts) and the page's
 * webgpu loader (src/worker/loaders.ts).
 */

/** GPUAdapterInfo's fields (and GPUAdapter's older `isFallbackAdapter`, which moved into the info in 2024). */
export interface AdapterFacts {
  vendor?: string | undefined;
  architecture?: string | undefined;
  device?: string | undefined;
  description?: string | undefined;
  isFallbackAdapter?: boolean | undefined;
}

/** A GPUAdapter as far as adapterFacts reads it (Chrome 127+ `info`, older `requestAdapterInfo()`). */
export interface GpuAdapterLike {
  info?: AdapterFacts;
  isFallbackAdapter?: boolean;
  requestAdapterInfo?: () => Promise<AdapterFacts>;
}

/**
 * The adapter's facts: `adapter.info`, else the older `requestAdapterInfo()`. GPUAdapterInfo's fields are getters
 * on its prototype, so they are read one by one (a spread would copy none).
 */
export async function adapterFacts(adapter: GpuAdapterLike): Promise<AdapterFacts> {
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
  const { vendor, architecture, device, description } = info;
  return {
    vendor,
    architecture,
    device,
    description,
    isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter,
  };
}
