// Decodes COCO RLE masks with the viewer's decoder; prints one JSON line per mask.
// Usage: node rle_check.mjs masks.json   (a JSON list of {"size": [h, w], "counts": ...})
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { decodeRle, rleArea } from "../../reelsight/api/static/rle.js";

const masks = JSON.parse(readFileSync(process.argv[2], "utf8"));
for (const rle of masks) {
  const mask = decodeRle(rle);
  const sha256 = createHash("sha256").update(mask.data).digest("hex");
  const ones = mask.data.reduce((sum, v) => sum + v, 0);
  console.log(JSON.stringify({ width: mask.width, height: mask.height, sha256, ones, area: rleArea(rle) }));
}
