import { packageConfig } from '../../tsup.base.js'

// dev-child.js is the process `smap dev` starts for each run of the source
export default packageConfig({
  entry: ['src/index.ts', 'src/dev-child.ts'],
  dts: { entry: 'src/index.ts', compilerOptions: { stripInternal: true } },
})
