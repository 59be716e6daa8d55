/* Detection boxes (boxes.h) from C: IoU by hand, NMS with 0-based ids and
 * its options, per-class suppression, the encode/decode round trip over a
 * strided view, matching, and argument errors that set a message instead of
 * crashing (NULL tensors, wrong shapes, NaN). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"

static dnn_tensor *rows(int64_t n, const float *values) { return dnn_from_data(values, 2, (int64_t[]){n, 4}); }

static void test_iou(void) {
  dnn_tensor *a = rows(2, (float[]){0, 0, 2, 2, 1, 1, 1, 3});
  dnn_tensor *b = rows(3, (float[]){1, 1, 3, 3, 0.5f, 0.5f, 1.5f, 1.5f, 2, 2, 0, 0});
  dnn_tensor *iou = dnn_box_iou(a, b);
  CHECK(iou && iou->ndim == 2 && iou->shape[0] == 2 && iou->shape[1] == 3);
  if (iou) {
    const float *o = dnn_data(iou);
    CHECK_NEAR(o[0], 1.0 / 7, 1e-7);
    CHECK_NEAR(o[1], 0.25, 1e-7);
    CHECK_NEAR(o[2], 1, 1e-7); /* corners swapped */
    for (int k = 3; k < 6; k++) CHECK(o[k] == 0); /* zero area */
  }
  dnn_tensor *bad = dnn_zeros(2, (int64_t[]){2, 3});
  CHECK(dnn_box_iou(a, bad) == NULL && strstr(dnn_errmsg(), "box_iou") && strstr(dnn_errmsg(), "(2, 3)"));
  CHECK(dnn_box_iou(NULL, a) == NULL && strstr(dnn_errmsg(), "box_iou"));
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  dnn_tensor_release(iou);
  dnn_tensor_release(bad);
}

static void test_nms(void) {
  dnn_tensor *boxes = rows(
      6, (float[]){0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, -0.1f, 1, 0.9f, 0, 10, 1, 11, 0, 10.1f, 1, 11.1f, 0, 100, 1, 101});
  dnn_tensor *scores = dnn_from_data((float[]){0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f}, 1, (int64_t[]){6});
  dnn_nms_options o = {0.5, -INFINITY, 3};
  dnn_tensor *keep = dnn_nms(boxes, scores, NULL, &o, 0);
  CHECK(keep && keep->shape[0] == 3);
  if (keep) CHECK(dnn_data(keep)[0] == 3 && dnn_data(keep)[1] == 0 && dnn_data(keep)[2] == 5);
  dnn_tensor_release(keep);
  dnn_tensor *classes = dnn_from_data((float[]){1, 2, 1, 1, 2, 1}, 1, (int64_t[]){6});
  o.max_output = -1;
  keep = dnn_nms(boxes, scores, classes, &o, 1);
  CHECK(keep && keep->shape[0] == 5);
  if (keep) {
    const float want[] = {4, 1, 2, 5, 6};
    for (int k = 0; k < 5; k++) CHECK(dnn_data(keep)[k] == want[k]);
  }
  dnn_tensor_release(keep);
  CHECK(dnn_nms(boxes, scores, NULL, NULL, 0) == NULL && strstr(dnn_errmsg(), "nms"));
  CHECK(dnn_nms(boxes, NULL, NULL, &o, 0) == NULL && strstr(dnn_errmsg(), "scores"));
  dnn_data(scores)[2] = NAN;
  CHECK(dnn_nms(boxes, scores, NULL, &o, 0) == NULL && strstr(dnn_errmsg(), "NaN"));
  dnn_tensor_release(boxes);
  dnn_tensor_release(scores);
  dnn_tensor_release(classes);
}

static void test_offsets(void) {
  double sizes[] = {0.3, 0.6}, ratios[] = {1, 2, 0.5};
  dnn_tensor *anchors = dnn_anchor_boxes(3, 2, sizes, 2, ratios, 3);
  CHECK(anchors && anchors->shape[0] == 3 * 2 * 6);
  int64_t na = anchors ? anchors->shape[0] : 0;
  /* boxes as a transposed (strided) view of a (4, A) tensor */
  dnn_tensor *cols = dnn_empty(2, (int64_t[]){4, na});
  for (int64_t k = 0; k < na; k++) {
    float y = 0.01f * (float)(k % 7), x = 0.02f * (float)(k % 5);
    float *c = dnn_data(cols);
    c[k] = y, c[na + k] = x, c[2 * na + k] = y + 0.1f + 0.01f * (float)(k % 3), c[3 * na + k] = x + 0.2f;
  }
  dnn_tensor *boxes = dnn_transpose(cols, 0, 1);
  const float v[4] = {0.1f, 0.1f, 0.2f, 0.2f};
  dnn_tensor *t = dnn_box_encode(boxes, anchors, v);
  dnn_tensor *back = t ? dnn_box_decode(t, anchors, v) : NULL;
  CHECK(back != NULL);
  if (back) {
    float worst = 0;
    float *flat = malloc((size_t)na * 4 * sizeof *flat);
    dnn_gather_to(boxes, flat);
    for (int64_t i = 0; i < 4 * na; i++) worst = fmaxf(worst, fabsf(flat[i] - dnn_data(back)[i]));
    CHECK(worst < 1e-5f);
    free(flat);
  }
  const float zero_var[4] = {0.1f, 0, 0.2f, 0.2f};
  CHECK(dnn_box_encode(boxes, anchors, zero_var) == NULL && strstr(dnn_errmsg(), "variances"));
  CHECK(dnn_anchor_boxes(0, 2, sizes, 2, ratios, 3) == NULL && strstr(dnn_errmsg(), "anchor_boxes"));
  dnn_tensor_release(anchors);
  dnn_tensor_release(cols);
  dnn_tensor_release(boxes);
  dnn_tensor_release(t);
  dnn_tensor_release(back);
}

static void test_match(void) {
  dnn_tensor *anchors = rows(3, (float[]){0, 0, 1, 1, 0, 1, 1, 2, 5, 5, 6, 6});
  dnn_tensor *gt = rows(2, (float[]){0, 0, 1, 0.9f, 0, 1.5f, 1, 2});
  dnn_tensor *m = dnn_match_boxes(gt, anchors, 0.6, INFINITY, 0);
  /* anchor 0: IoU 0.9 with box 0; anchor 1: IoU 0.5 with box 1, below 0.6 but its best */
  CHECK(m && dnn_data(m)[0] == 0 && dnn_data(m)[1] == 1 && dnn_data(m)[2] == -1);
  dnn_tensor_release(m);
  m = dnn_match_boxes(gt, anchors, 0.6, 0.4, 0);
  CHECK(m && dnn_data(m)[1] == 1); /* the best-anchor rule wins over the ignored band */
  dnn_tensor_release(m);
  CHECK(dnn_match_boxes(gt, anchors, NAN, 0.4, 0) == NULL && strstr(dnn_errmsg(), "match_boxes"));
  dnn_tensor_release(anchors);
  dnn_tensor_release(gt);
}

int main(void) {
  test_iou();
  test_nms();
  test_offsets();
  test_match();
  return check_report("test_boxes");
}
