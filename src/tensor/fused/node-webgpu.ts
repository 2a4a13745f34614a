/**
 * Static imports of the optional WebGPU packages (Dawn for Node and tfjs-backend-webgpu),
 * for entries that are bundled into one file, such as bench/gpu.ts: esbuild includes what
 * is imported statically, while `useBackend` loads these packages with a variable
 * `import()` that a bundle cannot follow. Importing this module hands both to `useBackend`.
 * Only such entries import it; it needs both packages installed (they are optional
 * dependencies of mixppl).
 */
// Optional packages: with `npm ci --omit=optional` they are absent, and this file (which
// nothing but GPU entries imports) must not stop the type check of the rest.
// @ts-ignore -- absent where optional dependencies are omitted
import * as dawn from 'webgpu';
// @ts-ignore -- absent where optional dependencies are omitted
import * as tfjsWebGPU from '@tensorflow/tfjs-backend-webgpu';
import { provideOptionalModule } from '../backend';

provideOptionalModule('webgpu', dawn);
provideOptionalModule('@tensorflow/tfjs-backend-webgpu', tfjsWebGPU);
