// fastUploads (webgpu-uploads.ts) on Dawn in a child process (test/webgpu/uploads.ts): no buffer created per
// upload, every uploaded value read back intact, the nano golden step unchanged; and without webgpu, that it
// leaves any other backend alone.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { expectGoldenSteps, hasSwiftShader, runOnDawn, SWIFTSHADER_ICD } from '../../../test/helpers/dawn.ts';
import type { UploadsReport } from '../../../test/webgpu/uploads.ts';
import { fastUploads } from './webgpu-uploads.ts';

describe.skipIf(!hasSwiftShader)(
  `on webgpu (Dawn on SwiftShader; skipped without ${SWIFTSHADER_ICD})`,
  () => {
    let report: UploadsReport;
    beforeAll(() => {
      report = runOnDawn<UploadsReport>('test/webgpu/uploads.ts', 120_000);
    }, 150_000);

    it('patches the webgpu backend once', () => {
      expect(report.patched).toBe(true);
      expect(report.patchedAgain).toBe(true);
    });

    it('creates no buffer for a scalar upload (100 ops with a number: 100 buffers before, none after)', () => {
      expect(report.createBuffers.before).toBeGreaterThanOrEqual(100);
      expect(report.createBuffers.after).toBe(0);
    });

    it('uploads float32, int32 and bool values of every size intact, through reused buffers', () => {
      expect(report.roundTrips).toBeGreaterThanOrEqual(20);
      expect(report.mismatches).toBe(0);
    });

    it('leaves the nano step matching PyTorch float64 (standard and ALUM), with no tensor leaked', () => {
      expectGoldenSteps({ standard: report.standard, alum: report.alum });
      expect(report.leakedTensors).toBe(0);
    });
  },
);

describe('without webgpu', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('patches nothing that is not the webgpu backend', () => {
    const cpu = tf.backend();
    expect(fastUploads(cpu)).toBe(false);
    expect(fastUploads(null)).toBe(false);
    expect(fastUploads({ uploadToGPU: () => undefined })).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(cpu, 'uploadToGPU')).toBe(false);
  });
});
