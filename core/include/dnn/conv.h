/* 2-d convolutions over NHWC images, as Keras: Conv2D, Conv2DTranspose and
 * DepthwiseConv2D, each with its bias and activation fused into the output
 * pass and recorded for autodiff. Conv2D and its transpose run through GEMM
 * (im2col / col2im with a reused workspace); the depthwise one is direct. */
#ifndef DNN_CONV_H
#define DNN_CONV_H

#include <stdbool.h>

#include "dnn/nn.h"
#include "dnn/tensor.h"

typedef struct {
  int stride[2]; /* (height, width), >= 1 */
  int dilation[2]; /* (height, width), >= 1 */
  bool same; /* TensorFlow's "same" padding (the extra pixel at the bottom/right), else "valid" */
} dnn_conv2d_config;

/* Keras's conv output length: valid floor((in - ((k-1)*d+1)) / s) + 1, same ceil(in / s); < 1 when nothing fits. */
int64_t dnn_conv_output_length(int64_t in, int64_t k, int stride, int dilation, bool same);
/* Keras's transposed-conv output length: valid in*s + max((k-1)*d+1 - s, 0), same in*s. */
int64_t dnn_conv_transpose_output_length(int64_t in, int64_t k, int stride, int dilation, bool same);

/* y[n,i,j,f] = act(b[f] + sum_{u,v,c} x[n, i*sh+u*dh-pt, j*sw+v*dw-pl, c] * W[u,v,c,f]);
 * x (N,H,W,C), W (KH,KW,C,F), b (F) or NULL -> y (N,OH,OW,F). */
dnn_tensor *dnn_conv2d(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, const dnn_conv2d_config *cfg, dnn_activation act,
                       float alpha);

/* The gradient of conv2d with respect to its input, as a layer: y = act(conv2d^T(x, W) + b);
 * x (N,H,W,C), W (KH,KW,F,C) (Keras's transposed layout), b (F) or NULL -> y (N,OH,OW,F), OH Keras's length. */
dnn_tensor *dnn_conv2d_transpose(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, const dnn_conv2d_config *cfg,
                                 dnn_activation act, float alpha);

/* y[n,i,j,c*M+m] = act(b[c*M+m] + sum_{u,v} x[n, i*sh+u*dh-pt, j*sw+v*dw-pl, c] * W[u,v,c,m]);
 * x (N,H,W,C), W (KH,KW,C,M) (M the depth multiplier), b (C*M) or NULL -> y (N,OH,OW,C*M). */
dnn_tensor *dnn_depthwise_conv2d(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, const dnn_conv2d_config *cfg,
                                 dnn_activation act, float alpha);

#endif
