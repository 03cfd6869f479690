#!/usr/bin/env python3
"""heic_gen.py OUT ORIENTATION: writes an 80x40 HEIC (HEVC through libheif, its
built-in x265 encoder) whose picture is quad.jpg of compose_media.sh (top-left
red, top-right green, bottom-left blue, bottom-right white) with irot/imir
boxes for the EXIF-style ORIENTATION 1..8 (libheif's encoding option
image_orientation), as iPhones store a turned photo. heif-enc (libheif 1.15)
has no option for it, so libheif's C API is called through ctypes."""
import ctypes as C, sys
out, orient = sys.argv[1], int(sys.argv[2])
h = C.CDLL("libheif.so.1")
class Err(C.Structure):
    _fields_ = [("code", C.c_int), ("subcode", C.c_int), ("message", C.c_char_p)]
class Opts(C.Structure):
    _fields_ = [("version", C.c_uint8), ("save_alpha_channel", C.c_uint8),
                ("macOS_compatibility_workaround", C.c_uint8),
                ("save_two_colr_boxes_when_ICC_and_nclx_available", C.c_uint8),
                ("output_nclx_profile", C.c_void_p),
                ("macOS_compatibility_workaround_no_nclx_profile", C.c_uint8),
                ("image_orientation", C.c_int)]
for f in ("heif_image_create", "heif_image_add_plane", "heif_context_get_encoder_for_format",
          "heif_encoder_set_lossy_quality", "heif_context_encode_image", "heif_context_write_to_file"):
    getattr(h, f).restype = Err
h.heif_context_alloc.restype = C.c_void_p
h.heif_image_get_plane.restype = C.POINTER(C.c_uint8)
h.heif_encoding_options_alloc.restype = C.POINTER(Opts)
def ok(e):
    if e.code:
        sys.exit("libheif: %s" % e.message.decode())
W, H = 80, 40
ctx = C.c_void_p(h.heif_context_alloc())
img = C.c_void_p()
ok(h.heif_image_create(W, H, 1, 10, C.byref(img)))  # RGB, interleaved RGB
ok(h.heif_image_add_plane(img, 10, W, H, 8))        # heif_channel_interleaved
stride = C.c_int()
px = h.heif_image_get_plane(img, 10, C.byref(stride))
for y in range(H):
    for x in range(W):
        c = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)][(y >= H // 2) * 2 + (x >= W // 2)]
        for i in range(3):
            px[y * stride.value + 3 * x + i] = c[i]
enc = C.c_void_p()
ok(h.heif_context_get_encoder_for_format(ctx, 1, C.byref(enc)))  # heif_compression_HEVC
ok(h.heif_encoder_set_lossy_quality(enc, 95))
o = h.heif_encoding_options_alloc()
if o.contents.version < 5:
    sys.exit("libheif too old for image_orientation")
o.contents.image_orientation = orient
ok(h.heif_context_encode_image(ctx, img, enc, o, None))
ok(h.heif_context_write_to_file(ctx, out.encode()))
