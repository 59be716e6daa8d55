/* Connected components of a 2-d mask: the regions of nonzero pixels, by a
 * breadth-first flood fill from each unlabelled pixel in raster order. */
#include <stdlib.h>
#include <string.h>

#include "dnn/image.h"

/* Labels are floats: exact up to 2^24. */
#define MAX_EXACT_LABEL (1LL << 24)

/* Neighbour offsets (dy, dx): the first 4 are the 4-neighbours. */
static const int NEIGHBOURS[8][2] = {{-1, 0}, {0, -1}, {0, 1}, {1, 0}, {-1, -1}, {-1, 1}, {1, -1}, {1, 1}};

/* Labels region `label` from pixel start: every pixel of it gets the label in
 * out, and box (y1, x1, y2, x2) grows to hold it. queue has room for h * w. */
static void fill_region(const float *mask, float *out, int64_t h, int64_t w, int connectivity, int64_t start,
                        float label, int64_t *queue, float box[4]) {
  int64_t head = 0, tail = 0;
  queue[tail++] = start;
  out[start] = label;
  int64_t y1 = h, x1 = w, y2 = 0, x2 = 0;
  while (head < tail) {
    int64_t p = queue[head++], y = p / w, x = p % w;
    if (y < y1) y1 = y;
    if (x < x1) x1 = x;
    if (y + 1 > y2) y2 = y + 1;
    if (x + 1 > x2) x2 = x + 1;
    for (int k = 0; k < connectivity; k++) {
      int64_t ny = y + NEIGHBOURS[k][0], nx = x + NEIGHBOURS[k][1];
      if (ny < 0 || ny >= h || nx < 0 || nx >= w) continue;
      int64_t q = ny * w + nx;
      if (mask[q] != 0 && out[q] == 0) {
        out[q] = label;
        queue[tail++] = q;
      }
    }
  }
  box[0] = (float)y1, box[1] = (float)x1, box[2] = (float)y2, box[3] = (float)x2;
}

dnn_tensor *dnn_image_connected_components(const dnn_tensor *mask, int connectivity, int64_t *count,
                                           dnn_tensor **boxes) {
  const char *fn = "dnn.image.connected_components";
  *count = 0, *boxes = NULL;
  if (!mask) return dnn_argerror(1, fn, "expected a mask (H, W), got nothing"), NULL;
  if (mask->ndim != 2) return dnn_argerror(1, fn, "expected a mask (H, W), got a %d-d tensor", mask->ndim), NULL;
  if (connectivity != 4 && connectivity != 8)
    return dnn_argerror(2, fn, "expected connectivity 4 or 8, got %d", connectivity), NULL;
  int64_t h = mask->shape[0], w = mask->shape[1], n = h * w;
  dnn_tensor *src = dnn_contiguous((dnn_tensor *)mask), *labels = src ? dnn_zeros(2, mask->shape) : NULL;
  if (!labels) return dnn_tensor_release(src), NULL;
  int64_t *queue = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  float *box_data = malloc(sizeof(float) * 4 * (size_t)(n > 0 ? n : 1)); /* n boxes bound any mask's */
  if (!queue || !box_data) {
    dnn_tensor_release(src), dnn_tensor_release(labels), free(queue), free(box_data);
    return dnn_error(DNN_ENOMEM, fn, "out of memory"), NULL;
  }
  const float *in = dnn_data(src);
  float *out = dnn_data(labels);
  int64_t regions = 0;
  for (int64_t p = 0; p < n; p++)
    if (in[p] != 0 && out[p] == 0) {
      if (regions == MAX_EXACT_LABEL) break;
      fill_region(in, out, h, w, connectivity, p, (float)(regions + 1), queue, box_data + 4 * regions);
      regions++;
    }
  dnn_tensor_release(src);
  free(queue);
  if (regions == MAX_EXACT_LABEL) {
    free(box_data), dnn_tensor_release(labels);
    return dnn_argerror(1, fn, "expected at most %lld regions (float labels stay exact), got more",
                        (long long)MAX_EXACT_LABEL),
           NULL;
  }
  *boxes = dnn_empty(2, (int64_t[]){regions, 4});
  if (!*boxes) return free(box_data), dnn_tensor_release(labels), NULL;
  memcpy(dnn_data(*boxes), box_data, sizeof(float) * 4 * (size_t)regions);
  free(box_data);
  *count = regions;
  return labels;
}
