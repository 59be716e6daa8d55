/* JPEG through libjpeg-turbo (Debian's libjpeg62-turbo), the decoder that
 * libjpeg-turbo's upstream fuzzes continuously (OSS-Fuzz) and PIL uses.
 * Errors jump back here through setjmp; a warning (corrupt or truncated
 * data, which libjpeg would paper over with gray) is an error too, as PIL's
 * default refusal of truncated images. Progressive files are limited in
 * their number of scans (a few bytes per scan could otherwise keep the
 * decoder busy for minutes). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "image_decode.h"

static const char *LOAD = "dnn.image.load";

/* More scans than any encoder writes (libjpeg-turbo's own tools stop at 500). */
#define MAX_SCANS 500

typedef struct jpeg_failure {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} jpeg_failure;

static void on_error(j_common_ptr cinfo) {
  jpeg_failure *f = (jpeg_failure *)cinfo->err;
  f->mgr.format_message(cinfo, f->message);
  longjmp(f->jump, 1);
}

/* Level -1 is a warning about the data: refused. Trace messages are ignored. */
static void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);
}

static void on_progress(j_common_ptr cinfo) {
  if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > MAX_SCANS) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    snprintf(f->message, sizeof f->message, "more than %d scans", MAX_SCANS);
    longjmp(f->jump, 1);
  }
}

/* Adobe's CMYK is stored inverted: r = c * k / 255, as stb_image and PIL. */
static void cmyk_to_rgb(const JSAMPLE *in, float *out, JDIMENSION w, float scale) {
  for (JDIMENSION x = 0; x < w; x++, in += 4, out += 3) {
    float k = in[3] * (scale / (255.0f * 255.0f));
    out[0] = in[0] * k, out[1] = in[1] * k, out[2] = in[2] * k;
  }
}

dnn_status dnn_decode_jpeg(const char *name, const unsigned char *data, size_t size, float scale, dnn_decoded *out) {
  struct jpeg_decompress_struct cinfo;
  jpeg_failure failure;
  struct jpeg_progress_mgr progress = {.progress_monitor = on_progress};
  float *volatile pixels = NULL;
  JSAMPLE *volatile row = NULL;
  cinfo.err = jpeg_std_error(&failure.mgr);
  failure.mgr.error_exit = on_error;
  failure.mgr.emit_message = on_message;
  if (setjmp(failure.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(pixels), free(row);
    return dnn_error(DNN_EFORMAT, LOAD, "%s: corrupt JPEG: %s", name, failure.message);
  }
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, data, (unsigned long)size);
  jpeg_read_header(&cinfo, TRUE);
  /* JPEG needs a Huffman code (>= 1 bit) per 8x8 block even in progressive
   * DC scans: 1024 pixels per byte bounds what a file can hold. */
  dnn_status st =
      dnn_image_check_pixels(name, "JPEG", cinfo.image_width, cinfo.image_height, (double)size * 1024, size);
  if (st != DNN_OK) {
    jpeg_destroy_decompress(&cinfo);
    return st;
  }
  bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  JDIMENSION w = cinfo.output_width, h = cinfo.output_height;
  int in_c = cinfo.output_components, c = cmyk ? 3 : in_c;
  pixels = malloc(sizeof(float) * (size_t)w * h * (size_t)c);
  row = malloc((size_t)w * (size_t)in_c);
  if (!pixels || !row) {
    snprintf(failure.message, sizeof failure.message, "out of memory");
    longjmp(failure.jump, 1);
  }
  while (cinfo.output_scanline < h) {
    JDIMENSION y = cinfo.output_scanline;
    JSAMPROW rows[1] = {row};
    jpeg_read_scanlines(&cinfo, rows, 1);
    float *o = pixels + (size_t)y * w * (size_t)c;
    if (cmyk)
      cmyk_to_rgb(row, o, w, scale);
    else
      for (size_t i = 0; i < (size_t)w * (size_t)c; i++) o[i] = row[i] * (scale / 255.0f);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  free(row);
  *out = (dnn_decoded){pixels, h, w, c};
  return DNN_OK;
}
