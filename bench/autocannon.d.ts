// The part of autocannon 8's programmatic API the benchmarks use (it ships no types).
declare module 'autocannon' {
  namespace autocannon {
    interface Options {
      url: string
      connections?: number
      pipelining?: number
      /** Seconds. */
      duration?: number
      timeout?: number
      method?: string
      headers?: Record<string, string>
    }

    interface Histogram {
      average: number
      min: number
      max: number
      p50: number
      p90: number
      p99: number
      /** For `requests`: completed requests; for `throughput`: bytes. */
      total: number
    }

    interface Result {
      url: string
      /** Seconds. */
      duration: number
      errors: number
      timeouts: number
      mismatches: number
      non2xx: number
      resets: number
      statusCodeStats: Record<string, { count: number }>
      /** Milliseconds. */
      latency: Histogram
      /** Per-second samples; `total` is every completed request. */
      requests: Histogram & { sent: number }
      throughput: Histogram
    }
  }

  /** Runs a load test; resolves with its result when no callback is given. */
  function autocannon(options: autocannon.Options): Promise<autocannon.Result>

  export = autocannon
}
