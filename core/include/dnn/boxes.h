/* Boxes for object detection: IoU, greedy non-maximum suppression, anchors,
 * and the encoding, decoding and matching of a single-shot detector.
 *
 * A box is 4 floats (y1, x1, y2, x2), TensorFlow's order; the corners may come
 * in either order (each pair is sorted first, as tf.image's ops do). A box of
 * zero area has IoU 0 with everything, itself included (never NaN).
 *
 * The detector's boxes are SSD-style anchors (Liu et al. 2016) rather than
 * YOLO's grid cells: several anchors per cell of several sizes and aspect
 * ratios, each matched to the ground truth by IoU, with the standard offsets
 * (ty, tx, th, tw) = ((cy - cy_a) / h_a / v0, (cx - cx_a) / w_a / v1,
 * log(h / h_a) / v2, log(w / w_a) / v3) and variances v (0.1, 0.1, 0.2, 0.2
 * by default). Anchors cover objects of different shapes in one cell, which a
 * grid cell predicting one box does not, and the same code serves a single
 * cell size (one anchor per cell is YOLO's grid).
 *
 * These are data operations: nothing is recorded for autodiff. Index results
 * are floats counted from base (0 from C, 1 from Lua). */
#ifndef DNN_BOXES_H
#define DNN_BOXES_H

#include <stdint.h>

#include "dnn/tensor.h"

/* The IoU of every box of a (N, 4) with every box of b (M, 4): (N, M),
 * intersection / union, 0 where the union is 0. */
dnn_tensor *dnn_box_iou(const dnn_tensor *a, const dnn_tensor *b);

typedef struct dnn_nms_options {
  double iou_threshold; /* a candidate is dropped when its IoU with a kept box is > this */
  double score_threshold; /* only boxes with score > this are candidates (-INFINITY: all) */
  int64_t max_output; /* at most this many kept; < 0: no limit */
} dnn_nms_options;

/* Greedy non-maximum suppression (tf.image.non_max_suppression): candidates
 * in descending score order (ties: the lower index first); each is kept
 * unless its IoU with a box kept before it is above iou_threshold. With
 * classes (N) given (class ids, any floats), a box is suppressed only by
 * boxes of its own class (batched NMS). boxes (N, 4), scores (N). Returns the
 * kept indices (K), base-based, in the order kept (descending score). NaN
 * scores are an error. */
dnn_tensor *dnn_nms(const dnn_tensor *boxes, const dnn_tensor *scores, const dnn_tensor *classes,
                    const dnn_nms_options *options, int base);

/* SSD's anchors for an fh x fw feature map over the unit square: for each
 * cell (row-major; center ((i + 0.5) / fh, (j + 0.5) / fw)), for each size s
 * (a fraction of the image side), for each aspect ratio r (width / height),
 * the box of height s / sqrt(r) and width s sqrt(r) about the center:
 * (fh * fw * n_sizes * n_ratios, 4), in (y1, x1, y2, x2), not clipped. */
dnn_tensor *dnn_anchor_boxes(int64_t fh, int64_t fw, const double *sizes, int n_sizes, const double *ratios,
                             int n_ratios);

/* Offsets (..., A, 4) of boxes (..., A, 4) from anchors (A, 4), each box
 * against the anchor of its row: (ty, tx, th, tw) as above, variances v[4].
 * Boxes and anchors must have positive height and width. */
dnn_tensor *dnn_box_encode(const dnn_tensor *boxes, const dnn_tensor *anchors, const float v[4]);

/* The inverse: boxes (..., A, 4) from offsets (..., A, 4) and anchors (A, 4).
 * th and tw (after the variances) are clamped at log(1000 / 16), as
 * torchvision does, so exp never overflows. */
dnn_tensor *dnn_box_decode(const dnn_tensor *offsets, const dnn_tensor *anchors, const float v[4]);

/* Matches ground-truth boxes gt (G, 4) to anchors (A, 4): (A) with, for each
 * anchor, base + j for the box j of highest IoU (ties: the lower j) when that
 * IoU >= iou_threshold; base - 2 ("ignored") when it is in
 * [ignore_threshold, iou_threshold); base - 1 (background) otherwise. Then
 * each box, in order, takes its best anchor (highest IoU, ties: the lower
 * anchor) whatever the IoU, if it is > 0, so every box that overlaps any
 * anchor has one (a later box that shares a best anchor takes it over).
 * ignore_threshold >= iou_threshold disables the ignored band. G may be 0. */
dnn_tensor *dnn_match_boxes(const dnn_tensor *gt, const dnn_tensor *anchors, double iou_threshold,
                            double ignore_threshold, int base);

#endif
