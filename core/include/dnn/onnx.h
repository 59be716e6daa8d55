/* ONNX model files (https://onnx.ai): protobuf bytes <-> a plain C
 * description of the graph (nodes, attributes, initializers, inputs and
 * outputs). The bytes are read and written by protobuf-c over the schema of
 * Debian's libonnx-dev (onnx.proto, compiled by protoc-c at build time); what
 * a graph means is decided above the core (lua/dnn/onnx/).
 *
 * A file is untrusted input: its size is capped, every tensor's dims are
 * checked (rank, sign, overflow) and its element count times element size
 * is checked against the bytes it carries before anything is allocated;
 * tensors stored in external files are refused. Errors name the file (or
 * "bytes") and the node or tensor. */
#ifndef DNN_ONNX_H
#define DNN_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "dnn/tensor.h"

/* The largest file or byte string read: protobuf's own limit. */
#define DNN_ONNX_MAX_BYTES ((size_t)2147483647)

/* TensorProto.DataType values used here. Floating types (float, double,
 * float16, bfloat16) are read as float32; integer and bool types as int64. */
enum { DNN_ONNX_FLOAT = 1, DNN_ONNX_INT32 = 6, DNN_ONNX_INT64 = 7, DNN_ONNX_BOOL = 9, DNN_ONNX_DOUBLE = 11 };

/* AttributeProto.AttributeType values. */
typedef enum dnn_onnx_attr_type {
  DNN_ONNX_ATTR_FLOAT = 1,
  DNN_ONNX_ATTR_INT = 2,
  DNN_ONNX_ATTR_STRING = 3,
  DNN_ONNX_ATTR_TENSOR = 4,
  DNN_ONNX_ATTR_GRAPH = 5, /* read as a marker only: no op dnnlua reads takes a sub-graph */
  DNN_ONNX_ATTR_FLOATS = 6,
  DNN_ONNX_ATTR_INTS = 7,
  DNN_ONNX_ATTR_STRINGS = 8
} dnn_onnx_attr_type;

/* A constant tensor: floats in a float32 dnn tensor, integers in ints. */
typedef struct dnn_onnx_tensor {
  char *name;
  int is_int; /* 0: values holds the data; 1: ints holds numel int64 values */
  int ndim;
  int64_t dims[DNN_MAX_DIMS];
  int64_t numel;
  dnn_tensor *values; /* (dims), contiguous */
  int64_t *ints;
} dnn_onnx_tensor;

typedef struct dnn_onnx_attr {
  char *name;
  dnn_onnx_attr_type type;
  double f;
  int64_t i;
  char *s; /* STRING: s_len bytes (NUL-terminated too) */
  size_t s_len;
  dnn_onnx_tensor *t;
  int64_t n; /* FLOATS, INTS, STRINGS: the count */
  double *floats;
  int64_t *ints;
  char **strings;
} dnn_onnx_attr;

typedef struct dnn_onnx_node {
  char *name, *op_type, *domain; /* domain "" for the default one */
  int n_inputs, n_outputs, n_attrs;
  char **inputs; /* "" for an omitted optional input */
  char **outputs;
  dnn_onnx_attr *attrs;
} dnn_onnx_node;

/* A graph input or output: a float or integer tensor of ndim dims, each a
 * size or -1 with a symbol (dim_params[d], may be NULL). ndim -1: no shape. */
typedef struct dnn_onnx_value {
  char *name;
  int elem_type;
  int ndim;
  int64_t dims[DNN_MAX_DIMS];
  char *dim_params[DNN_MAX_DIMS];
} dnn_onnx_value;

typedef struct dnn_onnx_model {
  int64_t ir_version;
  int64_t opset; /* the default domain's opset version */
  char *producer_name, *producer_version, *graph_name;
  int n_nodes, n_initializers, n_inputs, n_outputs;
  dnn_onnx_node *nodes;
  dnn_onnx_tensor *initializers;
  dnn_onnx_value *inputs; /* the graph's inputs that are not initializers */
  dnn_onnx_value *outputs;
} dnn_onnx_model;

/* Parses n bytes of a ModelProto. what names the source in messages (a path,
 * or NULL for "bytes"). NULL and a message on malformed or unsupported input. */
dnn_onnx_model *dnn_onnx_parse(const uint8_t *bytes, size_t n, const char *what);

/* Reads and parses a file of at most DNN_ONNX_MAX_BYTES. */
dnn_onnx_model *dnn_onnx_read(const char *path);

/* The bytes of m as a ModelProto (float initializers as raw little-endian
 * data), malloc'd; *n their count. NULL and a message on error. */
uint8_t *dnn_onnx_serialize(const dnn_onnx_model *m, size_t *n);

/* Writes m to path atomically (a temporary file fsync'd and renamed). */
dnn_status dnn_onnx_write(const char *path, const dnn_onnx_model *m);

/* Frees m and everything it holds (strings, arrays, tensor references).
 * Every field must be NULL or malloc'd: a binding that fills one frees it
 * with this too. NULL is fine. */
void dnn_onnx_free(dnn_onnx_model *m);
void dnn_onnx_tensor_clear(dnn_onnx_tensor *t); /* frees what t holds, not t */

#endif
