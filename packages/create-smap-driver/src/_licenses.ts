import { CreateError } from './errors.js'

/** The licenses `--license` offers, by SPDX id; `UNLICENSED` is npm's word for "no license granted". */
export const LICENSES = ['MIT', 'ISC', 'BSD-2-Clause', 'BSD-3-Clause', 'UNLICENSED'] as const
export type LicenseId = (typeof LICENSES)[number]

/** Takes `mit` for `MIT`; throws a CreateError naming the choices for anything else. */
export function checkLicense(value: string): LicenseId {
  const id = LICENSES.find((l) => l.toLowerCase() === value.trim().toLowerCase())
  if (id === undefined) throw new CreateError('SMAP_CREATE_LICENSE', `unknown license "${value}": choose ${LICENSES.slice(0, -1).join(', ')} or ${LICENSES.at(-1)}`)
  return id
}

/** The copyright holder from an npm author string: `Ada <ada@example.com> (https://ada.dev)` → `Ada`. */
export function holder(author: string, packageName: string): string {
  const name = author.replace(/<[^>]*>|\([^)]*\)/g, '').trim()
  return name === '' ? `the ${packageName} authors` : name
}

const BSD_CONDITIONS = `Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.
`

const BSD_THIRD = `
3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.
`

const BSD_DISCLAIMER = `
THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
`

const TEXTS: Record<Exclude<LicenseId, 'UNLICENSED'>, (copyright: string) => string> = {
  MIT: (c) => `MIT License

${c}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`,
  ISC: (c) => `ISC License

${c}

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
`,
  'BSD-2-Clause': (c) => `BSD 2-Clause License\n\n${c}\n\n${BSD_CONDITIONS}${BSD_DISCLAIMER}`,
  'BSD-3-Clause': (c) => `BSD 3-Clause License\n\n${c}\n\n${BSD_CONDITIONS}${BSD_THIRD}${BSD_DISCLAIMER}`,
}

/** The LICENSE file's text, or undefined for UNLICENSED (no rights granted, so no file). */
export function licenseText(id: LicenseId, year: number, copyrightHolder: string): string | undefined {
  return id === 'UNLICENSED' ? undefined : TEXTS[id](`Copyright (c) ${year} ${copyrightHolder}`)
}
