/* test_compose_timeline.c: the timeline parser and validator. Every kind of
 * bad timeline must fail before any decoding with an error naming the JSON
 * path of the bad field; good timelines parse with their defaults; the
 * duration arithmetic (speed, transitions, image durations) is exact; the
 * probe names missing or corrupt media; every fixture parses. */
#include "worker/compose/timeline.h"

#include <libavutil/log.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* Media names the fixtures and the cases below use; for parsing they only
 * need to exist (nothing is decoded). */
static const char *const dummy_names[] = {"a.mp4",    "b.mp4",     "photo.png",
                                          "logo.png", "music.m4a", "font.ttf"};

static char tmpdir[256];

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vodq-tl-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(dummy_names) / sizeof(dummy_names[0]); i++)
        write_file(tmpdir, dummy_names[i], "x");
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static enum vodq_rc parse(const char *json, struct vodq_timeline *tl, struct vodq_err *err)
{
    return vodq_timeline_parse(json, strlen(json), tmpdir, tl, err);
}

/* ---- Bad timelines: each names its JSON path ---- */

#define CLIP             "{\"type\":\"video\",\"src\":\"a.mp4\",\"in\":0,\"out\":2}"
#define TL(clips)        "{\"version\":1,\"tracks\":[{\"clips\":[" clips "]}]}"
#define TLO(clips, rest) "{\"version\":1,\"tracks\":[{\"clips\":[" clips "]}]," rest "}"

struct bad_case {
    const char *json;
    const char *msg; /* expected prefix of err.msg */
};

static const struct bad_case bad_cases[] = {
    {"{\"version\":1,", "timeline: invalid JSON"},
    {"[1,2]", "timeline: must be a JSON object"},
    {"{\"tracks\":[{\"clips\":[" CLIP "]}]}", "version: required"},
    {"{\"version\":2,\"tracks\":[{\"clips\":[" CLIP "]}]}",
     "version: must be an integer between 1 and 1"},
    {TLO(CLIP, "\"effects\":[]"), "effects: unknown field (allowed: version, tracks,"},
    {"{\"version\":1}", "tracks: required"},
    {"{\"version\":1,\"tracks\":[]}", "tracks: must be a non-empty array"},
    {"{\"version\":1,\"tracks\":[{\"clips\":[" CLIP "]},{\"clips\":[" CLIP "]},{\"clips\":[" CLIP
     "]},{\"clips\":[" CLIP "]},{\"clips\":[" CLIP "]},{\"clips\":[" CLIP "]},{\"clips\":[" CLIP
     "]},{\"clips\":[" CLIP "]},{\"clips\":[" CLIP "]},{\"clips\":[" CLIP "]}]}",
     "tracks: at most 9 tracks"},
    {"{\"version\":1,\"tracks\":[{\"clips\":[" CLIP "]},{\"clips\":[{\"src\":\"b.mp4\","
     "\"out\":1,\"transition\":{\"type\":\"fade\"}}]}]}",
     "tracks[1].clips[0].transition: only for clips of the main track (tracks[0])"},
    {"{\"version\":1,\"tracks\":[{\"clips\":[" CLIP "]},{\"clips\":[{\"src\":\"b.mp4\","
     "\"out\":1,\"fit\":\"cover\"}]}]}",
     "tracks[1].clips[0].fit: only for clips of the main track (tracks[0])"},
    {TL("{\"src\":\"a.mp4\",\"out\":2,\"anchor\":\"top\"}"),
     "tracks[0].clips[0].anchor: only for clips of overlay tracks (tracks[1] and above)"},
    {"{\"version\":1,\"tracks\":[{\"clips\":[" CLIP "]},{\"clips\":[{\"src\":\"b.mp4\","
     "\"out\":1,\"opacity\":2}]}]}",
     "tracks[1].clips[0].opacity: must be between 0 and 1"},
    {"{\"version\":1,\"tracks\":[{\"clips\":[" CLIP "]},{\"clips\":[{\"src\":\"b.mp4\","
     "\"out\":1,\"scale\":0.5,\"width\":100}]}]}",
     "tracks[1].clips[0].scale: give either scale or width, not both"},
    {"{\"version\":1,\"tracks\":[{\"clips\":[" CLIP "]},{\"clips\":[{\"src\":\"b.mp4\","
     "\"out\":1},{\"type\":\"image\",\"src\":\"logo.png\",\"duration\":1,\"start\":5}]}]}",
     "tracks[1].clips[1].start: 5 s is past the end of the timeline (2 s)"},
    {"{\"version\":1,\"tracks\":[{\"clips\":[" CLIP "]},{\"clips\":[{\"src\":\"b.mp4\","
     "\"out\":2},{\"src\":\"b.mp4\",\"out\":1.5}]}]}",
     "tracks[1].clips[1].start: 2 s is past the end of the timeline (2 s)"},
    {"{\"version\":1,\"tracks\":[{\"clips\":[]}]}", "tracks[0].clips: must be a non-empty array"},
    {"{\"version\":1,\"tracks\":[{\"clip\":[]}]}", "tracks[0].clip: unknown field"},
    {TL(CLIP "," CLIP ",{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"speed\":5}"),
     "tracks[0].clips[2].speed: must be between 0.25 and 4"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"speed\":\"2\"}"),
     "tracks[0].clips[0].speed: must be a number"},
    {TL("{\"type\":\"audio\",\"src\":\"a.mp4\"}"),
     "tracks[0].clips[0].type: unknown value \"audio\" (allowed: video, image, color)"},
    {TL(CLIP ",{\"type\":\"video\",\"src\":\"missing.mp4\",\"out\":1}"),
     "tracks[0].clips[1].src: file not found"},
    {TL("{\"type\":\"video\",\"src\":\"ftp://example.com/a.mp4\",\"out\":1}"),
     "tracks[0].clips[0].src: must be a local file path or an http(s)://, s3:// or oss:// URL"},
    {TL("{\"type\":\"video\",\"out\":1}"), "tracks[0].clips[0].src: required"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"in\":3,\"out\":2}"),
     "tracks[0].clips[0].out: must be greater than in (3)"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"in\":-1,\"out\":2}"),
     "tracks[0].clips[0].in: must be between 0 and 86400"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"duration\":2}"),
     "tracks[0].clips[0].duration: not allowed for video clips"},
    {TL("{\"type\":\"image\",\"src\":\"photo.png\"}"),
     "tracks[0].clips[0].duration: required for image clips"},
    {TL("{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":0}"),
     "tracks[0].clips[0].duration: must be greater than 0"},
    {TL("{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":2,\"speed\":2}"),
     "tracks[0].clips[0].speed: not allowed for image clips"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"volumne\":1}"),
     "tracks[0].clips[0].volumne: unknown field (allowed: type, src, brightness, contrast, "
     "saturation, in, out, speed, volume, mute, fit, background, transition, crop, rotate, hflip, vflip, freeze, fade_in, fade_out, volume_ranges)"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"fit\":\"fill\"}"),
     "tracks[0].clips[0].fit: unknown value \"fill\" (allowed: contain, cover, blur, stretch)"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"background\":\"red\"}"),
     "tracks[0].clips[0].background: must be a colour \"#RRGGBB\""},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"background\":\"#12345G\"}"),
     "tracks[0].clips[0].background: must be a colour"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"volume\":11}"),
     "tracks[0].clips[0].volume: must be between 0 and 10"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"mute\":1}"),
     "tracks[0].clips[0].mute: must be true or false"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"brightness\":2}"),
     "tracks[0].clips[0].brightness: must be between -1 and 1"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"contrast\":-1}"),
     "tracks[0].clips[0].contrast: must be between 0 and 2"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"saturation\":4}"),
     "tracks[0].clips[0].saturation: must be between 0 and 3"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"transition\":{\"type\":\"spin\"}}"
        "," CLIP),
     "tracks[0].clips[0].transition.type: unknown value \"spin\" (allowed: fade, wipeleft,"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"transition\":{\"type\":\"fade\","
        "\"duration\":-1}}," CLIP),
     "tracks[0].clips[0].transition.duration: must be greater than 0"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"transition\":{\"kind\":\"fade\"}}"
        "," CLIP),
     "tracks[0].clips[0].transition.kind: unknown field"},
    {TL(CLIP ",{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"transition\":{\"type\":"
             "\"fade\"}}"),
     "tracks[0].clips[1].transition: the last clip has no next clip"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"transition\":{\"type\":\"fade\","
        "\"duration\":3}}," CLIP),
     "tracks[0].clips[0].transition.duration: 3 s is longer than the clip (2 s)"},
    {TL(CLIP ",{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":1,\"transition\":"
             "{\"type\":\"fade\",\"duration\":1.5}}," CLIP),
     "tracks[0].clips[1].transition.duration: 1.5 s is longer than the clip (1 s)"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":2,\"transition\":{\"type\":\"fade\","
        "\"duration\":1}},{\"type\":\"video\",\"src\":\"a.mp4\",\"out\":1.5,\"transition\":{"
        "\"type\":\"dissolve\",\"duration\":1}}," CLIP),
     "tracks[0].clips[1].transition.duration: the transitions into and out of this clip"},
    {TL("{\"type\":\"video\",\"src\":\"a.mp4\",\"in\":1,\"out\":1.01}"),
     "tracks[0].clips[0].out: the clip is shorter than one output frame"},
    {TLO(CLIP, "\"output\":{\"width\":641}"),
     "output.width: must be an even integer between 16 and 7680"},
    {TLO(CLIP, "\"output\":{\"width\":8000}"),
     "output.width: must be an even integer between 16 and 7680"},
    {TLO(CLIP, "\"output\":{\"height\":\"720\"}"),
     "output.height: must be an even integer between 16 and 4320"},
    {TLO(CLIP, "\"output\":{\"fps\":0}"), "output.fps: must be an integer 1..240"},
    {TLO(CLIP, "\"output\":{\"fps\":25.5}"), "output.fps: must be an integer 1..240"},
    {TLO(CLIP, "\"output\":{\"fps\":\"30000/0\"}"), "output.fps: must be an integer 1..240"},
    {TLO(CLIP, "\"output\":{\"fps\":\"abc\"}"), "output.fps:"},
    {TLO(CLIP, "\"output\":{\"video_codec\":\"vp9\"}"),
     "output.video_codec: unknown value \"vp9\" (allowed: h264, hevc)"},
    {TLO(CLIP, "\"output\":{\"crf\":60}"), "output.crf: must be an integer between 0 and 51"},
    {TLO(CLIP, "\"output\":{\"crf\":22.5}"), "output.crf: must be an integer between 0 and 51"},
    {TLO(CLIP, "\"output\":{\"bitrate\":5}"), "output.bitrate: must be an integer between"},
    {TLO(CLIP, "\"output\":{\"preset\":\"fast;rm\"}"),
     "output.preset: may contain only letters, digits"},
    {TLO(CLIP, "\"output\":{\"encoder\":\"\"}"), "output.encoder: must be 1 to 31 characters"},
    {TLO(CLIP, "\"output\":{\"encoder\":\"h264_magic\"}"),
     "output.encoder: unknown video encoder \"h264_magic\" in this FFmpeg build"},
    {TLO(CLIP, "\"output\":{\"encoder\":\"aac\"}"), "output.encoder: unknown video encoder"},
    {TLO(CLIP, "\"output\":{\"encoder\":\"libx265\"}"),
     "output.encoder: libx265 does not encode h264 (output.video_codec)"},
    {TLO(CLIP, "\"output\":{\"audio_codec\":\"mp3\"}"),
     "output.audio_codec: unknown value \"mp3\" (allowed: aac)"},
    {TLO(CLIP, "\"output\":{\"sample_rate\":12345}"), "output.sample_rate: must be one of"},
    {TLO(CLIP, "\"output\":{\"channels\":6}"),
     "output.channels: must be an integer between 1 and 2"},
    {TLO(CLIP, "\"output\":{\"color\":\"bt2020\"}"),
     "output.color: unknown value \"bt2020\" (allowed: bt709, bt601)"},
    {TLO(CLIP, "\"output\":{\"color_range\":\"studio\"}"),
     "output.color_range: unknown value \"studio\" (allowed: limited, full)"},
    {TLO(CLIP, "\"output\":{\"loudness_lufs\":0}"),
     "output.loudness_lufs: must be between -70 and -5"},
    {TLO(CLIP, "\"output\":{\"loudness_lufs\":-100}"),
     "output.loudness_lufs: must be between -70 and -5"},
    {TLO(CLIP, "\"output\":{\"faststart\":\"yes\"}"), "output.faststart: must be true or false"},
    {TLO(CLIP, "\"output\":{\"cover\":{\"at\":1}}"), "output.cover.path: required"},
    {TLO(CLIP, "\"output\":{\"cover\":{\"at\":5,\"path\":\"c.jpg\"}}"),
     "output.cover.at: 5 is past the end of the timeline (2 s)"},
    {TLO(CLIP, "\"output\":{\"size\":\"hd\"}"), "output.size: unknown field"},
    {TLO(CLIP, "\"overlays\":{}"), "overlays: must be an array"},
    {TLO(CLIP, "\"overlays\":[{\"src\":\"logo.png\",\"opacity\":1.5}]"),
     "overlays[0].opacity: must be between 0 and 1"},
    {TLO(CLIP, "\"overlays\":[{\"src\":\"logo.png\"},{\"src\":\"logo.png\",\"anchor\":"
               "\"middle\"}]"),
     "overlays[1].anchor: unknown value \"middle\" (allowed: top-left, top, top-right, left, "
     "center, right, bottom-left, bottom, bottom-right)"},
    {TLO(CLIP, "\"overlays\":[{\"src\":\"logo.png\",\"scale\":0.2,\"width\":100}]"),
     "overlays[0].scale: give either scale or width, not both"},
    {TLO(CLIP, "\"overlays\":[{\"src\":\"logo.png\",\"scale\":2}]"),
     "overlays[0].scale: must be greater than 0 and at most 1"},
    {TLO(CLIP, "\"overlays\":[{\"type\":\"video\",\"src\":\"logo.png\"}]"),
     "overlays[0].type: unknown value \"video\" (allowed: image)"},
    {TLO(CLIP, "\"overlays\":[{\"src\":\"nologo.png\"}]"), "overlays[0].src: file not found"},
    {TLO(CLIP, "\"overlays\":[{\"src\":\"logo.png\",\"start\":2}]"),
     "overlays[0].start: 2 is past the end of the timeline (2 s)"},
    {TLO(CLIP, "\"captions\":[{\"text\":\"\"}]"), "captions[0].text: must be a non-empty string"},
    {TLO(CLIP, "\"captions\":[{\"size\":10}]"), "captions[0].text: required"},
    {TLO(CLIP, "\"captions\":[{\"text\":\"hi\",\"start\":1,\"end\":1}]"),
     "captions[0].end: must be greater than start (1)"},
    {TLO(CLIP, "\"captions\":[{\"text\":\"hi\",\"font\":\"/nonexistent/x.ttf\"}]"),
     "captions[0].font: file not found: /nonexistent/x.ttf"},
    {TLO(CLIP, "\"captions\":[{\"text\":\"\xff\xfe\"}]"), "captions[0].text: must be valid UTF-8"},
    {TLO(CLIP, "\"captions\":[{\"text\":\"hi\",\"size\":0}]"),
     "captions[0].size: must be an integer between 4 and 1000"},
    {TLO(CLIP, "\"captions\":[{\"text\":\"hi\",\"color\":\"#fff\"}]"),
     "captions[0].color: must be a colour"},
    {TLO(CLIP, "\"captions\":[{\"text\":\"hi\",\"shadow\":{\"x\":2,\"blur\":3}}]"),
     "captions[0].shadow.blur: unknown field (allowed: x, y, color)"},
    {TLO(CLIP, "\"captions\":[{\"text\":\"hi\",\"box\":{\"padding\":-2}}]"),
     "captions[0].box.padding: must be an integer between 0 and 500"},
    {TLO(CLIP, "\"captions\":[{\"text\":\"hi\",\"start\":20,\"end\":30}]"),
     "captions[0].start: 20 is past the end of the timeline (2 s)"},
    {TLO(CLIP, "\"music\":{\"volume\":0.5}"), "music.src: required"},
    {TLO(CLIP, "\"music\":{\"src\":\"music.m4a\",\"volume\":-1}"),
     "music.volume: must be between 0 and 10"},
    {TLO(CLIP, "\"music\":{\"src\":\"music.m4a\",\"in\":2,\"out\":1}"),
     "music.out: must be greater than in (2)"},
    {TLO(CLIP, "\"music\":{\"src\":\"music.m4a\",\"loop\":\"yes\"}"),
     "music.loop: must be true or false"},
    {TLO(CLIP, "\"music\":{\"src\":\"music.m4a\",\"fade_in\":-1}"),
     "music.fade_in: must be between 0 and 600"},
    {TLO(CLIP, "\"music\":{\"src\":\"music.m4a\",\"gain\":1}"), "music.gain: unknown field"},
    {TLO(CLIP, "\"music\":{\"src\":\"music.m4a\",\"start\":9}"),
     "music.start: 9 is past the end of the timeline (2 s)"},
};

static void test_bad_timelines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct vodq_timeline tl;
        struct vodq_err err = {0};
        enum vodq_rc rc = parse(bad_cases[i].json, &tl, &err);

        if (rc != VODQ_ERR_INVALID ||
            strncmp(err.msg, bad_cases[i].msg, strlen(bad_cases[i].msg)) != 0)
            print_error("case %zu: rc=%d msg=\"%s\"\n  want \"%s\"\n", i, rc, err.msg,
                        bad_cases[i].msg);
        assert_int_equal(rc, VODQ_ERR_INVALID);
        assert_int_equal(err.code, VODQ_ERR_INVALID);
        assert_true(err.permanent);
        assert_memory_equal(err.msg, bad_cases[i].msg, strlen(bad_cases[i].msg));
        vodq_timeline_cleanup(&tl);
        assert_null(tl.tracks);
    }
}

/* ---- Good timelines ---- */

static void test_full_timeline_fields(void **state)
{
    (void)state;
    const char *json =
        "{\"version\":1,\"tracks\":[{\"clips\":["
        "{\"type\":\"video\",\"src\":\"a.mp4\",\"in\":0.5,\"out\":3,\"speed\":1.5,\"fit\":"
        "\"cover\",\"background\":\"#10203040\",\"volume\":0.5,\"mute\":false,\"brightness\":"
        "0.1,\"contrast\":1.2,\"saturation\":0.8,\"transition\":{\"type\":\"circleopen\","
        "\"duration\":0.4}},"
        "{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":2.5,\"fit\":\"blur\"}]}],"
        "\"overlays\":[{\"type\":\"image\",\"src\":\"logo.png\",\"anchor\":\"bottom-left\",\"x\":"
        "12,\"y\":14,\"scale\":0.25,\"opacity\":0.7,\"start\":0.5,\"duration\":1}],"
        "\"captions\":[{\"text\":\"你好 world\",\"size\":40,\"color\":\"#ffcc00\",\"outline\":3,"
        "\"outline_color\":\"#000000\",\"shadow\":{\"x\":1,\"y\":3,\"color\":\"#00000080\"},"
        "\"box\":{\"color\":\"#00000080\",\"padding\":6},\"anchor\":\"top\",\"y\":20,\"start\":"
        "1,\"end\":2}],"
        "\"music\":{\"src\":\"music.m4a\",\"in\":1,\"out\":5,\"start\":0.5,\"loop\":true,"
        "\"volume\":0.3,\"fade_in\":1,\"fade_out\":2},"
        "\"output\":{\"width\":1920,\"height\":1080,\"fps\":\"30000/1001\",\"video_codec\":"
        "\"hevc\",\"bitrate\":4000000,\"gop\":48,\"preset\":\"fast\",\"encoder\":\"libx265\","
        "\"audio_bitrate\":192000,\"sample_rate\":44100,\"channels\":1,\"color\":\"bt601\","
        "\"color_range\":\"full\",\"loudness_lufs\":-16,\"faststart\":false,\"cover\":{\"at\":1,"
        "\"path\":\"cover.jpg\"}}}";
    struct vodq_timeline tl;
    struct vodq_err err = {0};
    char want[512];

    assert_int_equal(parse(json, &tl, &err), VODQ_OK);
    assert_int_equal(tl.version, 1);
    assert_int_equal(tl.n_tracks, 1);
    assert_int_equal(tl.tracks[0].n_clips, 2);
    const struct vodq_clip *c = &tl.tracks[0].clips[0];
    snprintf(want, sizeof(want), "%s/a.mp4", tmpdir);
    assert_string_equal(c->src, want);
    assert_int_equal(c->type, VODQ_CLIP_VIDEO);
    assert_true(c->in_s == 0.5 && c->out_s == 3 && c->speed == 1.5);
    assert_int_equal(c->fit, VODQ_FIT_COVER);
    assert_int_equal(c->background.r, 0x10);
    assert_int_equal(c->background.a, 0x40);
    assert_true(c->volume == 0.5 && !c->mute);
    assert_true(c->brightness == 0.1 && c->contrast == 1.2 && c->saturation == 0.8);
    assert_string_equal(c->transition.type, "circleopen");
    assert_true(c->transition.duration_s == 0.4);
    c = &tl.tracks[0].clips[1];
    assert_int_equal(c->type, VODQ_CLIP_IMAGE);
    assert_int_equal(c->fit, VODQ_FIT_BLUR);
    assert_true(c->image_duration_s == 2.5);
    assert_int_equal(c->background.a, 255); /* default #000000 opaque */

    assert_int_equal(tl.n_overlays, 1);
    assert_int_equal(tl.overlays[0].anchor, VODQ_ANCHOR_BOTTOM_LEFT);
    assert_true(tl.overlays[0].scale == 0.25 && tl.overlays[0].opacity == 0.7);
    assert_true(tl.overlays[0].start_s == 0.5 && tl.overlays[0].duration_s == 1);
    assert_int_equal(tl.overlays[0].x, 12);

    assert_int_equal(tl.n_captions, 1);
    const struct vodq_caption *cap = &tl.captions[0];
    assert_string_equal(cap->text, "你好 world");
    assert_string_equal(cap->font, VODQ_TIMELINE_DEFAULT_FONT);
    assert_int_equal(cap->size, 40);
    assert_int_equal(cap->color.g, 0xcc);
    assert_true(cap->has_shadow && cap->shadow_y == 3 && cap->shadow_color.a == 0x80);
    assert_true(cap->has_box && cap->box_padding == 6);
    assert_int_equal(cap->anchor, VODQ_ANCHOR_TOP);
    assert_true(cap->start_s == 1 && cap->end_s == 2);

    assert_non_null(tl.music.src);
    assert_true(tl.music.loop && tl.music.volume == 0.3 && tl.music.fade_out_s == 2);
    assert_true(tl.music.in_s == 1 && tl.music.out_s == 5 && tl.music.start_s == 0.5);

    const struct vodq_output_spec *o = &tl.output;
    assert_int_equal(o->width, 1920);
    assert_int_equal(o->fps_num, 30000);
    assert_int_equal(o->fps_den, 1001);
    assert_string_equal(o->video_codec, "hevc");
    assert_true(o->bitrate == 4000000 && o->gop == 48 && o->sample_rate == 44100);
    assert_string_equal(o->encoder, "libx265");
    assert_string_equal(o->color, "bt601");
    assert_true(o->full_range && o->has_loudness && o->loudness_lufs == -16 && !o->faststart);
    snprintf(want, sizeof(want), "%s/cover.jpg", tmpdir);
    assert_string_equal(o->cover_path, want);
    vodq_timeline_cleanup(&tl);
}

static void test_defaults(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_err err = {0};

    assert_int_equal(parse(TL("{\"src\":\"a.mp4\",\"out\":1}"), &tl, &err), VODQ_OK);
    const struct vodq_clip *c = &tl.tracks[0].clips[0];
    assert_int_equal(c->type, VODQ_CLIP_VIDEO); /* type defaults to video */
    assert_true(c->in_s == 0 && c->speed == 1 && c->volume == 1 && !c->mute);
    assert_int_equal(c->fit, VODQ_FIT_CONTAIN);
    assert_string_equal(c->transition.type, "");
    assert_int_equal(tl.output.width, 1280);
    assert_int_equal(tl.output.height, 720);
    assert_int_equal(tl.output.fps_num, 30);
    assert_int_equal(tl.output.fps_den, 1);
    assert_string_equal(tl.output.video_codec, "h264");
    assert_int_equal(tl.output.crf, 23);
    assert_int_equal(tl.output.bitrate, 0);
    assert_string_equal(tl.output.encoder, "auto");
    assert_string_equal(tl.output.color, "bt709");
    assert_false(tl.output.full_range);
    assert_false(tl.output.has_loudness);
    assert_true(tl.output.faststart);
    assert_null(tl.output.cover_path);
    assert_null(tl.music.src);
    assert_int_equal(tl.output.sample_rate, 48000);
    assert_int_equal(tl.output.channels, 2);
    vodq_timeline_cleanup(&tl);

    /* null counts as absent; 29.97 means 30000/1001 */
    assert_int_equal(parse(TLO("{\"src\":\"a.mp4\",\"out\":1,\"speed\":null}",
                               "\"output\":{\"fps\":29.97,\"bitrate\":null}"),
                           &tl, &err),
                     VODQ_OK);
    assert_true(tl.tracks[0].clips[0].speed == 1);
    assert_int_equal(tl.output.fps_num, 30000);
    assert_int_equal(tl.output.fps_den, 1001);
    vodq_timeline_cleanup(&tl);
}

static void test_paths(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_err err = {0};
    char json[1024], path[512], want[512];

    /* Absolute paths are kept as they are. */
    snprintf(json, sizeof(json), TL("{\"src\":\"%s/b.mp4\",\"out\":1}"), tmpdir);
    assert_int_equal(vodq_timeline_parse(json, strlen(json), "/nonexistent", &tl, &err), VODQ_OK);
    snprintf(want, sizeof(want), "%s/b.mp4", tmpdir);
    assert_string_equal(tl.tracks[0].clips[0].src, want);
    vodq_timeline_cleanup(&tl);

    /* A timeline file resolves relative paths against its own folder. */
    write_file(tmpdir, "t.json", TL("{\"src\":\"b.mp4\",\"out\":1}"));
    snprintf(path, sizeof(path), "%s/t.json", tmpdir);
    assert_int_equal(vodq_timeline_load_file(path, &tl, &err), VODQ_OK);
    assert_string_equal(tl.tracks[0].clips[0].src, want);
    assert_string_equal(tl.base_dir, tmpdir);
    vodq_timeline_cleanup(&tl);

    /* A URL source is kept as given (the compose executor fetches it). */
    snprintf(json, sizeof(json), TL("{\"src\":\"%s\",\"out\":1}"),
             "https://cdn.example.com/a.mp4?sig=1");
    assert_int_equal(vodq_timeline_parse(json, strlen(json), "/nonexistent", &tl, &err), VODQ_OK);
    assert_string_equal(tl.tracks[0].clips[0].src, "https://cdn.example.com/a.mp4?sig=1");
    vodq_timeline_cleanup(&tl);
    snprintf(json, sizeof(json), TL("{\"src\":\"%s\",\"out\":1}"), "s3://bucket/media/a.mp4");
    assert_int_equal(vodq_timeline_parse(json, strlen(json), NULL, &tl, &err), VODQ_OK);
    assert_string_equal(tl.tracks[0].clips[0].src, "s3://bucket/media/a.mp4");
    vodq_timeline_cleanup(&tl);

    /* ...and a missing one is named. */
    snprintf(path, sizeof(path), "%s/none.json", tmpdir);
    assert_int_equal(vodq_timeline_load_file(path, &tl, &err), VODQ_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "none.json"));
    vodq_timeline_cleanup(&tl);
}

/* ---- Duration arithmetic ---- */

static double duration_of(const char *json)
{
    struct vodq_timeline tl;
    struct vodq_err err = {0};
    double d;

    if (parse(json, &tl, &err) != VODQ_OK) {
        print_error("%s\n", err.msg);
        fail();
    }
    d = vodq_timeline_duration_s(&tl);
    vodq_timeline_cleanup(&tl);
    return d;
}

static void test_durations(void **state)
{
    (void)state;
    /* plain trims: 2.5 + 2 */
    assert_float_equal(duration_of(TL("{\"src\":\"a.mp4\",\"in\":0.5,\"out\":3},"
                                      "{\"src\":\"b.mp4\",\"out\":2}")),
                       4.5, 1e-9);
    /* speed 2 halves a clip, 0.5 doubles one */
    assert_float_equal(duration_of(TL("{\"src\":\"a.mp4\",\"out\":4,\"speed\":2}")), 2.0, 1e-9);
    assert_float_equal(duration_of(TL("{\"src\":\"a.mp4\",\"out\":1,\"speed\":0.5}")), 2.0, 1e-9);
    /* transitions overlap: 3 + 2 - 0.5 */
    assert_float_equal(
        duration_of(TL("{\"src\":\"a.mp4\",\"out\":3,\"transition\":{\"type\":\"fade\","
                       "\"duration\":0.5}},{\"src\":\"b.mp4\",\"out\":2}")),
        4.5, 1e-9);
    /* image durations, with a transition between them: 1.5 + 2 - 1 */
    assert_float_equal(duration_of(TL("{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":1.5,"
                                      "\"transition\":{\"type\":\"slideup\",\"duration\":1}},"
                                      "{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":2}")),
                       2.5, 1e-9);
    /* frame rounding at 30000/1001: 2 s = 59.94 -> 60 frames */
    assert_float_equal(
        duration_of(TLO("{\"src\":\"a.mp4\",\"out\":2}", "\"output\":{\"fps\":\"30000/1001\"}")),
        60.0 * 1001 / 30000, 1e-9);
    /* a clip with no "out" has no known length until probed */
    assert_true(duration_of(TL("{\"src\":\"a.mp4\"}")) < 0);
}

static void test_frame_counts(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_err err = {0};

    assert_int_equal(parse(TLO("{\"src\":\"a.mp4\",\"out\":3,\"speed\":1.5,\"transition\":{"
                               "\"type\":\"dissolve\",\"duration\":0.4}},"
                               "{\"type\":\"image\",\"src\":\"photo.png\",\"duration\":1}",
                               "\"output\":{\"fps\":25}"),
                           &tl, &err),
                     VODQ_OK);
    assert_int_equal(vodq_clip_frames(&tl.tracks[0].clips[0], &tl.output), 50);
    assert_int_equal(vodq_transition_frames(&tl.tracks[0].clips[0], &tl.output), 10);
    assert_int_equal(vodq_clip_frames(&tl.tracks[0].clips[1], &tl.output), 25);
    assert_int_equal(vodq_transition_frames(&tl.tracks[0].clips[1], &tl.output), 0);
    assert_int_equal(vodq_timeline_frames(&tl), 65);
    assert_float_equal(vodq_clip_source_span_s(&tl.tracks[0].clips[0]), 3.0, 1e-9);
    vodq_timeline_cleanup(&tl);

    /* after the probe, in and out count from the source frames nearest them */
    assert_int_equal(parse(TLO("{\"src\":\"a.mp4\",\"in\":0.51,\"out\":1.61}",
                               "\"output\":{\"fps\":25}"),
                           &tl, &err),
                     VODQ_OK);
    struct vodq_clip *c = &tl.tracks[0].clips[0];
    assert_int_equal(vodq_clip_frames(c, &tl.output), 28); /* 1.10 s before the probe */
    c->info.probed = true;
    c->info.near_s = 0.52;
    c->info.near_out_s = 1.56;
    c->info.duration_s = 4;
    assert_float_equal(vodq_clip_source_span_s(c), 1.04, 1e-9);
    assert_int_equal(vodq_clip_frames(c, &tl.output), 26);
    c->info.near_out_s = -1; /* unknown: the asked out */
    assert_float_equal(vodq_clip_source_span_s(c), 1.10, 1e-9);
    c->out_s = -1; /* no out: to the end, from the snapped in */
    assert_float_equal(vodq_clip_source_span_s(c), 3.48, 1e-9);
    vodq_timeline_cleanup(&tl);
}

/* ---- Probe: real (tiny) media made by the ffmpeg command line ---- */

static bool have_ffmpeg(void)
{
    return system("ffmpeg -hide_banner -version >/dev/null 2>&1") == 0;
}

static void make_media(const char *dir)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd),
             "cd '%s' && ffmpeg -hide_banner -loglevel error -y -f lavfi -i "
             "testsrc2=s=160x120:r=25:d=2 -f lavfi -i sine=f=440:r=48000:d=2 -c:v libx264 "
             "-preset ultrafast -pix_fmt yuv420p -c:a aac -shortest av.mp4 && "
             "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=160x120:r=25:d=1 "
             "-c:v libx264 -preset ultrafast -pix_fmt yuv420p v.mp4 && "
             "ffmpeg -hide_banner -loglevel error -y -f lavfi -i color=c=red:s=64x32 "
             "-frames:v 1 red.png && "
             "ffmpeg -hide_banner -loglevel error -y -f lavfi -i sine=f=220:r=44100:d=3 "
             "-c:a aac tone.m4a && "
             "head -c 4000 /dev/urandom > corrupt.mp4",
             dir);
    assert_int_equal(system(cmd), 0);
}

static enum vodq_rc parse_probe(const char *json, struct vodq_timeline *tl, struct vodq_err *err)
{
    enum vodq_rc rc = parse(json, tl, err);
    return rc != VODQ_OK ? rc : vodq_timeline_probe(tl, err);
}

static void test_probe(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_err err = {0};

    if (!have_ffmpeg())
        skip();
    make_media(tmpdir);

    /* An open-ended clip takes its length from the source. */
    assert_int_equal(parse_probe(TLO("{\"src\":\"av.mp4\",\"in\":0.5},"
                                     "{\"type\":\"image\",\"src\":\"red.png\",\"duration\":1}",
                                     "\"overlays\":[{\"src\":\"red.png\"}],"
                                     "\"music\":{\"src\":\"tone.m4a\",\"loop\":true}"),
                                 &tl, &err),
                     VODQ_OK);
    assert_true(tl.probed);
    const struct vodq_media_info *mi = &tl.tracks[0].clips[0].info;
    assert_true(mi->probed && mi->has_video && mi->has_audio);
    assert_int_equal(mi->width, 160);
    assert_int_equal(mi->height, 120);
    assert_int_equal(mi->fps_num / mi->fps_den, 25);
    assert_float_equal(mi->duration_s, 2.0, 0.05);
    assert_float_equal(vodq_timeline_duration_s(&tl), 2.5, 0.05);
    mi = &tl.tracks[0].clips[1].info;
    assert_true(mi->has_video && !mi->has_audio);
    assert_int_equal(mi->width, 64);
    assert_true(tl.overlays[0].info.has_video);
    assert_true(tl.music.info.has_audio);
    assert_float_equal(tl.music.info.duration_s, 3.0, 0.05);
    vodq_timeline_cleanup(&tl);

    /* A trim past the end of its source. */
    assert_int_equal(parse_probe(TL("{\"src\":\"v.mp4\",\"in\":0,\"out\":5}"), &tl, &err),
                     VODQ_ERR_INVALID);
    assert_memory_equal(err.msg, "tracks[0].clips[0].out: 5 is past the end of the source",
                        strlen("tracks[0].clips[0].out: 5 is past the end of the source"));
    assert_non_null(strstr(err.msg, "v.mp4"));
    vodq_timeline_cleanup(&tl);
    assert_int_equal(parse_probe(TL("{\"src\":\"v.mp4\",\"in\":3}"), &tl, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "tracks[0].clips[0].in: 3 is past the end of the source"));
    vodq_timeline_cleanup(&tl);

    /* Corrupt media fails with the path and the file named. */
    assert_int_equal(parse_probe(TL("{\"src\":\"v.mp4\",\"out\":1},{\"src\":\"corrupt.mp4\","
                                    "\"out\":1}"),
                                 &tl, &err),
                     VODQ_ERR_MEDIA);
    assert_memory_equal(err.msg, "tracks[0].clips[1].src: ", 24);
    assert_non_null(strstr(err.msg, "corrupt.mp4"));
    vodq_timeline_cleanup(&tl);

    /* Music needs sound; a clip needs pictures. */
    assert_int_equal(
        parse_probe(TLO("{\"src\":\"v.mp4\",\"out\":1}", "\"music\":{\"src\":\"v.mp4\"}"), &tl,
                    &err),
        VODQ_ERR_MEDIA);
    assert_non_null(strstr(err.msg, "music.src: no audio stream in"));
    vodq_timeline_cleanup(&tl);
    assert_int_equal(parse_probe(TL("{\"src\":\"tone.m4a\",\"out\":1}"), &tl, &err),
                     VODQ_ERR_MEDIA);
    assert_non_null(strstr(err.msg, "tracks[0].clips[0].src: no video stream in"));
    vodq_timeline_cleanup(&tl);

    /* A transition longer than an open-ended clip shows up once probed. */
    assert_int_equal(parse_probe(TL("{\"src\":\"v.mp4\",\"transition\":{\"type\":\"fade\","
                                    "\"duration\":1.5}},{\"src\":\"av.mp4\"}"),
                                 &tl, &err),
                     VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "tracks[0].clips[0].transition.duration: 1.5 s is longer"));
    vodq_timeline_cleanup(&tl);
}

/* ---- Fixtures: every tests/fixtures/timeline_*.json parses ---- */

static void test_fixtures(void **state)
{
    (void)state;
    char dir[512], path[1024];
    const char *slash = strrchr(__FILE__, '/');
    DIR *d;
    struct dirent *e;
    int n = 0;

    assert_non_null(slash);
    snprintf(dir, sizeof(dir), "%.*s/../fixtures", (int)(slash - __FILE__), __FILE__);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "timeline_", 9) != 0 || len < 5 ||
            strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        /* Copy it beside the dummy media so its relative paths resolve. */
        char cmd[2048];
        struct vodq_timeline tl;
        struct vodq_err err = {0};
        snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s/fixture.json'", dir, e->d_name, tmpdir);
        assert_int_equal(system(cmd), 0);
        snprintf(path, sizeof(path), "%s/fixture.json", tmpdir);
        enum vodq_rc rc = vodq_timeline_load_file(path, &tl, &err);
        if (strstr(e->d_name, "_bad_")) {
            if (rc == VODQ_OK)
                print_error("%s: parsed but should fail\n", e->d_name);
            assert_int_not_equal(rc, VODQ_OK);
        } else {
            if (rc != VODQ_OK)
                print_error("%s: %s\n", e->d_name, err.msg);
            assert_int_equal(rc, VODQ_OK);
            assert_true(tl.tracks[0].n_clips > 0);
        }
        vodq_timeline_cleanup(&tl);
        n++;
    }
    closedir(d);
    assert_true(n >= 3);
}

/* Overlay tracks: picture-in-picture clips placed in time and space. */
static void test_overlay_tracks(void **state)
{
    (void)state;
    struct vodq_timeline tl;
    struct vodq_err err = {0};

    assert_int_equal(
        parse("{\"version\":1,\"tracks\":[{\"clips\":[{\"src\":\"a.mp4\",\"out\":4}]},"
              "{\"clips\":[{\"src\":\"b.mp4\",\"in\":1,\"out\":2,\"start\":0.5,\"anchor\":"
              "\"bottom-left\",\"x\":8,\"y\":6,\"scale\":0.25,\"opacity\":0.5,\"volume\":0.3},"
              "{\"type\":\"image\",\"src\":\"logo.png\",\"duration\":1,\"width\":100}]}]}",
              &tl, &err),
        VODQ_OK);
    assert_int_equal(tl.n_tracks, 2);
    const struct vodq_clip *c = &tl.tracks[1].clips[0];
    assert_true(c->pip && !tl.tracks[0].clips[0].pip);
    assert_int_equal(c->anchor, VODQ_ANCHOR_BOTTOM_LEFT);
    assert_true(c->x == 8 && c->y == 6 && c->scale == 0.25 && c->opacity == 0.5);
    assert_true(c->volume == 0.3 && c->start_s == 0.5);
    c = &tl.tracks[1].clips[1];
    assert_true(c->start_s < 0 && c->width_px == 100 && c->scale == 0);
    assert_int_equal(c->anchor, VODQ_ANCHOR_TOP_RIGHT);
    /* 0.5 s = frame 15; the image follows the 1 s video: frame 45 */
    assert_int_equal(vodq_clip_start_frame(&tl.tracks[1], 0, &tl.output), 15);
    assert_int_equal(vodq_clip_start_frame(&tl.tracks[1], 1, &tl.output), 45);
    /* overlay tracks never make the timeline longer */
    assert_float_equal(vodq_timeline_duration_s(&tl), 4.0, 1e-9);
    vodq_timeline_cleanup(&tl);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(vodq_fit_name(VODQ_FIT_BLUR), "blur");
    assert_string_equal(vodq_anchor_name(VODQ_ANCHOR_BOTTOM_RIGHT), "bottom-right");
    assert_string_equal(vodq_anchor_name((enum vodq_anchor)42), "?");
}

int main(void)
{
    av_log_set_level(AV_LOG_QUIET); /* the corrupt-file probe is expected to complain */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_timelines),  cmocka_unit_test(test_full_timeline_fields),
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_paths),
        cmocka_unit_test(test_durations),      cmocka_unit_test(test_frame_counts),
        cmocka_unit_test(test_probe),          cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_overlay_tracks), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
