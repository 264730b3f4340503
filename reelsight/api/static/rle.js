// COCO run-length encoding, decoded in the browser.
// A mask of height h and width w is stored column by column (Fortran order) as alternating
// runs of 0s and 1s, starting with 0s. "counts" is either a list of run lengths or the
// compact string form pycocotools writes: each run is a variable-length number in 6-bit
// chunks (offset by 48 into printable ASCII), 5 value bits + 1 continuation bit, the last
// chunk's bit 4 giving the sign, and from the third run on each value is a delta against
// the run two places earlier.

export function decodeCounts(counts) {
  if (Array.isArray(counts)) return counts.map(Number);
  if (typeof counts !== "string") throw new TypeError("RLE counts must be a string or an array");
  const runs = [];
  let p = 0;
  while (p < counts.length) {
    let value = 0;
    let shift = 0;
    let more = true;
    let chunk = 0;
    while (more) {
      if (p >= counts.length) throw new RangeError("truncated RLE counts string");
      chunk = counts.charCodeAt(p) - 48;
      if (chunk < 0 || chunk > 63) throw new RangeError(`bad character in RLE counts at ${p}`);
      value += (chunk & 0x1f) * 2 ** (5 * shift);
      more = (chunk & 0x20) !== 0;
      p += 1;
      shift += 1;
    }
    if (chunk & 0x10) value -= 2 ** (5 * shift); // negative: sign-extend
    if (runs.length > 2) value += runs[runs.length - 2];
    runs.push(value);
  }
  return runs;
}

// -> {width, height, data}: data is a Uint8Array in row-major order, 1 inside the mask.
export function decodeRle(rle) {
  const [height, width] = rle.size;
  const runs = decodeCounts(rle.counts);
  const data = new Uint8Array(width * height);
  const total = width * height;
  let position = 0;
  let on = false;
  for (const run of runs) {
    if (run < 0 || position + run > total) throw new RangeError("RLE runs do not fit the mask size");
    if (on) {
      for (let i = position; i < position + run; i++) {
        const column = Math.floor(i / height);
        const row = i - column * height;
        data[row * width + column] = 1;
      }
    }
    position += run;
    on = !on;
  }
  return { width, height, data };
}

// The mask's area in pixels, straight from the runs.
export function rleArea(rle) {
  const runs = decodeCounts(rle.counts);
  let area = 0;
  for (let i = 1; i < runs.length; i += 2) area += runs[i];
  return area;
}
