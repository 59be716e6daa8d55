/* Boxes for object detection (boxes.h): IoU, greedy NMS, SSD anchors, box
 * offsets and matching. Small O(N M) loops over (y1, x1, y2, x2) rows. */
#include "dnn/boxes.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/error.h"

/* Corners sorted, as tf.image's ops read a box. */
typedef struct box {
  float y1, x1, y2, x2, area;
} box;

static box box_at(const float *p) {
  box b;
  b.y1 = fminf(p[0], p[2]);
  b.y2 = fmaxf(p[0], p[2]);
  b.x1 = fminf(p[1], p[3]);
  b.x2 = fmaxf(p[1], p[3]);
  b.area = (b.y2 - b.y1) * (b.x2 - b.x1);
  return b;
}

static float iou_of(const box *a, const box *b) {
  if (a->area <= 0 || b->area <= 0) return 0;
  float h = fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1);
  float w = fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1);
  if (h <= 0 || w <= 0) return 0;
  float inter = h * w;
  return inter / (a->area + b->area - inter);
}

/* Checks that t is (N, 4) boxes, else an error naming fn and the argument. */
static dnn_status check_boxes(const char *fn, int argn, const char *what, const dnn_tensor *t) {
  char buf[64];
  if (!t) return dnn_argerror(argn, fn, "expected %s (N, 4), got nothing", what);
  if (t->ndim != 2 || t->shape[1] != 4)
    return dnn_argerror(argn, fn, "expected %s of shape (N, 4) as y1, x1, y2, x2, got %s", what,
                        dnn_shape_str(t, buf, sizeof buf));
  return DNN_OK;
}

static float *floats_of(const char *fn, const dnn_tensor *t) {
  int64_t n = dnn_numel(t);
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
  if (!p) {
    dnn_error(DNN_ENOMEM, fn, "out of memory copying %" PRId64 " floats", n);
    return NULL;
  }
  if (n > 0) dnn_gather_to(t, p);
  return p;
}

/* The rows of a checked (N, 4) tensor as sorted boxes (malloc'd, at least one
 * slot), or NULL with an out-of-memory error. */
static box *boxes_of(const char *fn, const dnn_tensor *t) {
  int64_t n = t->shape[0];
  float *p = floats_of(fn, t);
  if (!p) return NULL;
  box *b = malloc((size_t)(n > 0 ? n : 1) * sizeof *b);
  if (!b) {
    free(p);
    dnn_error(DNN_ENOMEM, fn, "out of memory for %" PRId64 " boxes", n);
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) b[i] = box_at(p + 4 * i);
  free(p);
  return b;
}

dnn_tensor *dnn_box_iou(const dnn_tensor *a, const dnn_tensor *b) {
  const char *fn = "box_iou";
  if (check_boxes(fn, 1, "boxes", a) != DNN_OK || check_boxes(fn, 2, "boxes", b) != DNN_OK) return NULL;
  int64_t n = a->shape[0], m = b->shape[0];
  box *ba = boxes_of(fn, a), *bb = ba ? boxes_of(fn, b) : NULL;
  dnn_tensor *out = bb ? dnn_empty(2, (int64_t[]){n, m}) : NULL;
  if (out) {
    float *o = dnn_data(out);
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < m; j++) o[i * m + j] = iou_of(&ba[i], &bb[j]);
  }
  free(ba);
  free(bb);
  return out;
}

typedef struct candidate {
  float score;
  int64_t index;
} candidate;

/* Descending score, then ascending index: a total order, so the result does
 * not depend on qsort's algorithm. */
static int by_score(const void *pa, const void *pb) {
  const candidate *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

dnn_tensor *dnn_nms(const dnn_tensor *boxes, const dnn_tensor *scores, const dnn_tensor *classes,
                    const dnn_nms_options *o, int base) {
  const char *fn = "nms";
  char buf[64];
  if (check_boxes(fn, 1, "boxes", boxes) != DNN_OK) return NULL;
  int64_t n = boxes->shape[0];
  if (!scores || scores->ndim != 1 || scores->shape[0] != n) {
    if (!scores)
      dnn_argerror(2, fn, "expected scores (%" PRId64 "), got nothing", n);
    else
      dnn_argerror(2, fn, "expected scores of shape (%" PRId64 ") for %" PRId64 " boxes, got %s", n, n,
                   dnn_shape_str(scores, buf, sizeof buf));
    return NULL;
  }
  if (classes && (classes->ndim != 1 || classes->shape[0] != n)) {
    dnn_argerror(3, fn, "expected classes of shape (%" PRId64 ") for %" PRId64 " boxes, got %s", n, n,
                 dnn_shape_str(classes, buf, sizeof buf));
    return NULL;
  }
  if (!o || isnan(o->iou_threshold) || isnan(o->score_threshold)) {
    dnn_argerror(4, fn, "expected numeric iou_threshold and score_threshold");
    return NULL;
  }
  box *b = boxes_of(fn, boxes);
  float *s = b ? floats_of(fn, scores) : NULL;
  float *c = s && classes ? floats_of(fn, classes) : NULL;
  candidate *cand = s && (c || !classes) ? malloc((size_t)(n > 0 ? n : 1) * sizeof *cand) : NULL;
  int64_t *kept = cand ? malloc((size_t)(n > 0 ? n : 1) * sizeof *kept) : NULL;
  dnn_tensor *out = NULL;
  if (!kept) {
    if (b && s && (c || !classes)) dnn_error(DNN_ENOMEM, fn, "out of memory for %" PRId64 " boxes", n);
    goto done;
  }
  int64_t nc = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(s[i])) {
      dnn_argerror(2, fn, "score %" PRId64 " is NaN", i + base);
      goto done;
    }
    if (s[i] > o->score_threshold) cand[nc++] = (candidate){s[i], i};
  }
  qsort(cand, (size_t)nc, sizeof *cand, by_score);
  int64_t limit = o->max_output < 0 ? n : o->max_output, nk = 0;
  for (int64_t k = 0; k < nc && nk < limit; k++) {
    int64_t i = cand[k].index;
    int keep = 1;
    for (int64_t j = nk - 1; j >= 0 && keep; j--) {
      int64_t q = kept[j];
      if (c && c[q] != c[i]) continue;
      if (iou_of(&b[i], &b[q]) > o->iou_threshold) keep = 0;
    }
    if (keep) kept[nk++] = i;
  }
  out = dnn_empty(1, (int64_t[]){nk});
  if (out)
    for (int64_t j = 0; j < nk; j++) dnn_data(out)[j] = (float)(kept[j] + base);
done:
  free(b);
  free(s);
  free(c);
  free(cand);
  free(kept);
  return out;
}

dnn_tensor *dnn_anchor_boxes(int64_t fh, int64_t fw, const double *sizes, int n_sizes, const double *ratios,
                             int n_ratios) {
  const char *fn = "anchor_boxes";
  if (fh < 1 || fw < 1) {
    dnn_argerror(1, fn, "expected a feature map of at least 1 x 1, got %" PRId64 " x %" PRId64, fh, fw);
    return NULL;
  }
  if (n_sizes < 1 || n_ratios < 1) {
    dnn_argerror(2, fn, "expected at least one size and one aspect ratio, got %d and %d", n_sizes, n_ratios);
    return NULL;
  }
  for (int k = 0; k < n_sizes; k++)
    if (!(sizes[k] > 0) || isinf(sizes[k])) {
      dnn_argerror(2, fn, "expected sizes > 0, got %g", sizes[k]);
      return NULL;
    }
  for (int k = 0; k < n_ratios; k++)
    if (!(ratios[k] > 0) || isinf(ratios[k])) {
      dnn_argerror(3, fn, "expected aspect ratios > 0, got %g", ratios[k]);
      return NULL;
    }
  int64_t per = (int64_t)n_sizes * n_ratios;
  if (fh > ((int64_t)1 << 36) / fw / per) {
    dnn_argerror(1, fn, "too many anchors (%" PRId64 " x %" PRId64 " x %" PRId64 ")", fh, fw, per);
    return NULL;
  }
  dnn_tensor *out = dnn_empty(2, (int64_t[]){fh * fw * per, 4});
  if (!out) return NULL;
  float *o = dnn_data(out);
  for (int64_t i = 0; i < fh; i++)
    for (int64_t j = 0; j < fw; j++) {
      double cy = (i + 0.5) / fh, cx = (j + 0.5) / fw;
      for (int a = 0; a < n_sizes; a++)
        for (int r = 0; r < n_ratios; r++) {
          double q = sqrt(ratios[r]), h = sizes[a] / q, w = sizes[a] * q;
          o[0] = (float)(cy - h / 2), o[1] = (float)(cx - w / 2);
          o[2] = (float)(cy + h / 2), o[3] = (float)(cx + w / 2);
          o += 4;
        }
    }
  return out;
}

/* Checks t (..., A, 4) against anchors (A, 4) for fn. */
static dnn_status check_rows(const char *fn, const char *what, const dnn_tensor *t, const dnn_tensor *anchors) {
  char buf[64], abuf[64];
  if (!t) return dnn_argerror(1, fn, "expected %s (..., A, 4), got nothing", what);
  if (check_boxes(fn, 2, "anchors", anchors) != DNN_OK) return DNN_EARG;
  if (t->ndim < 2 || t->shape[t->ndim - 1] != 4 || t->shape[t->ndim - 2] != anchors->shape[0])
    return dnn_argerror(1, fn, "expected %s of shape (..., %" PRId64 ", 4) for anchors %s, got %s", what,
                        anchors->shape[0], dnn_shape_str(anchors, abuf, sizeof abuf),
                        dnn_shape_str(t, buf, sizeof buf));
  return DNN_OK;
}

typedef struct center {
  double cy, cx, h, w;
} center;

static center center_of(const float *p) {
  box b = box_at(p);
  return (center){0.5 * ((double)b.y1 + b.y2), 0.5 * ((double)b.x1 + b.x2), (double)b.y2 - b.y1, (double)b.x2 - b.x1};
}

static int check_variances(const char *fn, const float v[4]) {
  for (int k = 0; k < 4; k++)
    if (!(v[k] > 0) || isinf(v[k])) {
      dnn_argerror(3, fn, "expected variances > 0, got %g", (double)v[k]);
      return 0;
    }
  return 1;
}

dnn_tensor *dnn_box_encode(const dnn_tensor *boxes, const dnn_tensor *anchors, const float v[4]) {
  const char *fn = "encode_boxes";
  if (check_rows(fn, "boxes", boxes, anchors) != DNN_OK || !check_variances(fn, v)) return NULL;
  int64_t na = anchors->shape[0], n = dnn_numel(boxes) / 4;
  float *a = floats_of(fn, anchors), *p = a ? floats_of(fn, boxes) : NULL;
  dnn_tensor *out = NULL;
  if (!p) goto done;
  for (int64_t k = 0; k < na; k++) {
    center ca = center_of(a + 4 * k);
    if (!(ca.h > 0 && ca.w > 0)) {
      dnn_argerror(2, fn, "anchor %" PRId64 " has zero or NaN height or width", k + 1);
      goto done;
    }
  }
  for (int64_t i = 0; i < n; i++) {
    center cb = center_of(p + 4 * i);
    if (!(cb.h > 0 && cb.w > 0)) {
      dnn_argerror(1, fn, "box %" PRId64 " has zero or NaN height or width (offsets need a positive size)", i + 1);
      goto done;
    }
  }
  out = dnn_empty(boxes->ndim, boxes->shape);
  if (!out) goto done;
  float *o = dnn_data(out);
  for (int64_t i = 0; i < n; i++) {
    center cb = center_of(p + 4 * i), ca = center_of(a + 4 * (i % na));
    o[4 * i + 0] = (float)((cb.cy - ca.cy) / ca.h / v[0]);
    o[4 * i + 1] = (float)((cb.cx - ca.cx) / ca.w / v[1]);
    o[4 * i + 2] = (float)(log(cb.h / ca.h) / v[2]);
    o[4 * i + 3] = (float)(log(cb.w / ca.w) / v[3]);
  }
done:
  free(a);
  free(p);
  return out;
}

dnn_tensor *dnn_box_decode(const dnn_tensor *offsets, const dnn_tensor *anchors, const float v[4]) {
  const char *fn = "decode_boxes";
  if (check_rows(fn, "offsets", offsets, anchors) != DNN_OK || !check_variances(fn, v)) return NULL;
  int64_t na = anchors->shape[0], n = dnn_numel(offsets) / 4;
  const double clamp = log(1000.0 / 16);
  float *a = floats_of(fn, anchors), *p = a ? floats_of(fn, offsets) : NULL;
  dnn_tensor *out = p ? dnn_empty(offsets->ndim, offsets->shape) : NULL;
  if (out) {
    float *o = dnn_data(out);
    for (int64_t i = 0; i < n; i++) {
      center ca = center_of(a + 4 * (i % na));
      const float *t = p + 4 * i;
      double cy = ca.cy + (double)t[0] * v[0] * ca.h, cx = ca.cx + (double)t[1] * v[1] * ca.w;
      double h = ca.h * exp(fmin((double)t[2] * v[2], clamp)), w = ca.w * exp(fmin((double)t[3] * v[3], clamp));
      o[4 * i + 0] = (float)(cy - h / 2), o[4 * i + 1] = (float)(cx - w / 2);
      o[4 * i + 2] = (float)(cy + h / 2), o[4 * i + 3] = (float)(cx + w / 2);
    }
  }
  free(a);
  free(p);
  return out;
}

dnn_tensor *dnn_match_boxes(const dnn_tensor *gt, const dnn_tensor *anchors, double iou_threshold,
                            double ignore_threshold, int base) {
  const char *fn = "match_boxes";
  if (check_boxes(fn, 1, "ground-truth boxes", gt) != DNN_OK || check_boxes(fn, 2, "anchors", anchors) != DNN_OK)
    return NULL;
  if (isnan(iou_threshold) || isnan(ignore_threshold)) {
    dnn_argerror(3, fn, "expected numeric thresholds");
    return NULL;
  }
  int64_t ng = gt->shape[0], na = anchors->shape[0];
  box *g = boxes_of(fn, gt), *a = g ? boxes_of(fn, anchors) : NULL;
  dnn_tensor *out = a ? dnn_empty(1, (int64_t[]){na}) : NULL;
  if (out) {
    float *o = dnn_data(out);
    for (int64_t k = 0; k < na; k++) {
      int64_t arg = -1;
      float top = 0;
      for (int64_t j = 0; j < ng; j++) {
        float u = iou_of(&a[k], &g[j]);
        if (arg < 0 || u > top) top = u, arg = j;
      }
      if (arg >= 0 && top > 0 && top >= iou_threshold)
        o[k] = (float)(base + arg);
      else if (arg >= 0 && top >= ignore_threshold && ignore_threshold < iou_threshold)
        o[k] = (float)(base - 2);
      else
        o[k] = (float)(base - 1);
    }
    for (int64_t j = 0; j < ng; j++) {
      int64_t arg = -1;
      float top = 0;
      for (int64_t k = 0; k < na; k++) {
        float u = iou_of(&a[k], &g[j]);
        if (u > top) top = u, arg = k;
      }
      if (arg >= 0) o[arg] = (float)(base + j);
    }
  }
  free(g);
  free(a);
  return out;
}
