/** The version of @smap/sdk; the driver host checks drivers' declared ranges against it. */
export const SDK_VERSION = '0.1.0'
