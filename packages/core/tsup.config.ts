import { packageConfig } from '../../tsup.base.js'

// the worker a driver runs in under `Isolation = worker` is its own entry, beside index.js
export default packageConfig({ entry: { index: 'src/index.ts', 'worker-entry': 'src/drivers/worker-entry.ts' } })
