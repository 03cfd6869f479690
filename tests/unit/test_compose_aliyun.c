/* test_compose_aliyun.c: the Aliyun Timeline importer (worker/compose/aliyun.c)
 * without media: every refusal names its JSON path and value, lenient
 * drops what it may and lists it, and the conversions follow Aliyun's
 * timing and geometry rules (docs/aliyun-timeline.md). */
#include "worker/compose/aliyun.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define V1 "{\"MediaURL\":\"a.mp4\",\"Out\":2}"
#define DOC(clips) "{\"VideoTracks\":[{\"VideoTrackClips\":[" clips "]}]}"
#define FX(effects) DOC("{\"MediaURL\":\"a.mp4\",\"Out\":2,\"Effects\":[" effects "]}," V1)

static enum vodq_rc import(const char *json, bool lenient, struct vodq_aliyun_result *r,
                           struct vodq_err *err)
{
    cJSON *doc = cJSON_Parse(json);
    cJSON *map = cJSON_Parse("{\"abc123\":\"mapped.mp4\",\"img1\":\"logo.png\"}");
    struct vodq_aliyun_opts o;
    enum vodq_rc rc;

    assert_non_null(doc);
    memset(&o, 0, sizeof(o));
    o.media_map = map;
    o.lenient = lenient;
    o.seed = 7;
    rc = vodq_aliyun_import(doc, &o, r, err);
    cJSON_Delete(doc);
    cJSON_Delete(map);
    return rc;
}

struct bad_case {
    const char *json;
    const char *msg; /* prefix of err.msg */
};

static const struct bad_case refused[] = {
    /* what only Aliyun's cloud resolves */
    {DOC("{\"MediaId\":\"0a1b2c3d\",\"Out\":2}"),
     "VideoTracks[0].VideoTrackClips[0].MediaId: \"0a1b2c3d\" has no mapping"},
    {"{\"ImageTracks\":[{\"ImageTrackClips\":[{\"ImageId\":\"nope\"}]}],\"VideoTracks\":[{"
     "\"VideoTrackClips\":[" V1 "]}]}",
     "ImageTracks[0].ImageTrackClips[0].ImageId: \"nope\" has no mapping"},
    {DOC("{\"MediaURL\":\"$Video\",\"Out\":2}"),
     "VideoTracks[0].VideoTrackClips[0].MediaURL: template placeholder \"$Video\" not expanded"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"Out\":\"$Out:5\"}"),
     "VideoTracks[0].VideoTrackClips[0].Out: template placeholder"},
    {"{\"TemplateId\":\"IceSys_SingleVideo_Watermark\",\"VideoTracks\":[{\"VideoTrackClips\":[" V1
     "]}]}",
     "TemplateId: templates are merged only by Aliyun's cloud"},
    {FX("{\"Type\":\"VFX\",\"SubType\":\"heartbeat\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0]: VFX \"heartbeat\" is an Aliyun cloud asset"},
    {FX("{\"Type\":\"Volume\",\"Gain\":1},{\"Type\":\"Filter\",\"SubType\":\"m1\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[1]: Filter \"m1\" is an Aliyun cloud asset"},
    {FX("{\"Type\":\"AI_ASR\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0]: AI_ASR is an Aliyun cloud AI service"},
    {DOC("{\"Type\":\"AI_Avatar\",\"MediaURL\":\"a.mp4\"}"),
     "VideoTracks[0].VideoTrackClips[0]: clip type AI_Avatar is an Aliyun cloud AI service"},
    {"{\"AudioTracks\":[{\"AudioTrackClips\":[{\"Type\":\"AI_TTS\",\"Content\":\"hi\"}]}]}",
     "AudioTracks[0].AudioTrackClips[0]: clip type AI_TTS is an Aliyun cloud AI service"},
    {FX("{\"Type\":\"Transition\",\"SubType\":\"OT0001-abcdef\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0]: Transition \"OT0001-abcdef\" is a paid "
     "Aliyun cloud asset"},
    {FX("{\"Type\":\"Transition\",\"SubType\":\"fade,OT0002-xyz\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0]: Transition \"OT0002-xyz\" is a paid"},
    {"{\"VideoTracks\":[{\"VideoTrackClips\":[" V1 "]}],\"SubtitleTracks\":[{"
     "\"SubtitleTrackClips\":[{\"Type\":\"Text\",\"Content\":\"x\",\"Font\":\"HappyZcool-2016\"}"
     "]}]}",
     "SubtitleTracks[0].SubtitleTrackClips[0].Font: font \"HappyZcool-2016\" has no local "
     "mapping"},
    {"{\"VideoTracks\":[{\"VideoTrackClips\":[" V1 "]}],\"SubtitleTracks\":[{"
     "\"SubtitleTrackClips\":[{\"Type\":\"Text\",\"Content\":\"x\",\"EffectColorStyle\":"
     "\"CS0003-000011\"}]}]}",
     "SubtitleTracks[0].SubtitleTrackClips[0].EffectColorStyle: EffectColorStyle "
     "\"CS0003-000011\" is an Aliyun cloud asset"},
    {"{\"VideoTracks\":[{\"VideoTrackClips\":[" V1 "]}],\"SubtitleTracks\":[{"
     "\"SubtitleTrackClips\":[{\"Type\":\"Text\",\"Content\":\"x\",\"AaiMotionInEffect\":"
     "\"slingshot_in\"}]}]}",
     "SubtitleTracks[0].SubtitleTrackClips[0].AaiMotionInEffect: AaiMotionInEffect "
     "\"slingshot_in\" is an Aliyun cloud asset"},
    {"{\"VideoTracks\":[{\"VideoTrackClips\":[" V1 "]}],\"EffectTracks\":[{\"EffectTrackItems\":"
     "[{\"Type\":\"VFX\",\"SubType\":\"starry\"}]}]}",
     "EffectTracks[0].EffectTrackItems[0]: VFX \"starry\" is an Aliyun cloud asset"},
    /* malformed documents */
    {"{\"VideoTracks\":[],\"AudioTracks\":[]}",
     "Timeline: Both video tracks and audio tracks are empty"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"MediaUrl\":\"b.mp4\"}"),
     "VideoTracks[0].VideoTrackClips[0]: key \"MediaUrl\" is given twice (also as \"MediaURL\")"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"Out\":\"two\"}"),
     "VideoTracks[0].VideoTrackClips[0].Out: must be a number (got \"two\")"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"In\":3,\"Out\":2}"),
     "VideoTracks[0].VideoTrackClips[0].Out: 2 must be greater than In (3)"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"Out\":2,\"Speed\":8}"),
     "VideoTracks[0].VideoTrackClips[0].Speed: 8 is outside what vodq renders (0.25..4)"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"Out\":2,\"Speed\":200}"),
     "VideoTracks[0].VideoTrackClips[0].Speed: 200 is outside 0.1..100"},
    {DOC("{\"MediaURL\":\"a.png\",\"Type\":\"Image\"}"),
     "VideoTracks[0].VideoTrackClips[0]: an Image clip needs Duration"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"Out\":2,\"MediaId\":\"abc123\"}"),
     "VideoTracks[0].VideoTrackClips[0].MediaId: give either MediaURL or MediaId, not both"},
    {DOC("{\"Out\":2}"), "VideoTracks[0].VideoTrackClips[0]: a media reference is required"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"Type\":\"Audio\"}"),
     "VideoTracks[0].VideoTrackClips[0].Type: unknown clip type \"Audio\""},
    {FX("{\"Type\":\"Transition\",\"SubType\":\"spin\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0].SubType: unknown transition \"spin\""},
    {FX("{\"Type\":\"Sparkle\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0].Type: unknown effect type \"Sparkle\""},
    {FX("{\"Type\":\"Volume\",\"Volume\":0}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0].Volume: a Volume effect takes \"Gain\""},
    {FX("{\"Type\":\"Rotate\",\"Degree\":45}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0].Degree: must be a multiple of 90"},
    {FX("{\"Type\":\"Flip\",\"Direction\":\"diagonal\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0].Direction: must be \"horizontal\" or "
     "\"vertical\""},
    {FX("{\"Type\":\"Crop\",\"X\":0.5,\"Width\":0.8}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0]: the crop rectangle is empty or leaves"},
    {FX("{\"Type\":\"AFade\",\"SubType\":\"Both\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0].SubType: must be \"In\" or \"Out\""},
    {FX("{\"Type\":\"Background\",\"SubType\":\"Color\",\"Color\":\"red\"}"),
     "VideoTracks[0].VideoTrackClips[0].Effects[0].Color: must be a colour \"#RRGGBB\""},
    {DOC("{\"MediaURL\":\"a.mp4\",\"Out\":2,\"X\":1.5,\"Width\":0.5}"),
     "VideoTracks[0].VideoTrackClips[0].X: 1.5 is neither a fraction (0..1) nor a pixel value"},
    {DOC(V1 ",{\"MediaURL\":\"a.mp4\",\"Out\":2,\"TimelineIn\":1}"),
     "VideoTracks[0].VideoTrackClips[1]: starts at 1.000 s, inside the previous clip"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"Out\":2,\"ReferenceClipId\":\"c1\"}"),
     "VideoTracks[0].VideoTrackClips[0].ReferenceClipId: \"c1\" names no ClipId of a video or "
     "audio clip"},
    {DOC("{\"MediaURL\":\"a.mp4\",\"Out\":2,\"ClipId\":\"c1\"},{\"MediaURL\":\"a.mp4\",\"Out\":2,"
         "\"ReferenceClipId\":\"c1\"}"),
     "VideoTracks[0].VideoTrackClips[1].ReferenceClipId: \"c1\" labels a clip of the same track"},
    {"{\"VideoTracks\":[{\"VideoTrackClips\":[" V1 "]}],\"SubtitleTracks\":[{"
     "\"SubtitleTrackClips\":[{\"Type\":\"Text\",\"Content\":\"x\",\"Alignment\":\"Middle\"}]}]}",
     "SubtitleTracks[0].SubtitleTrackClips[0].Alignment: unknown value \"Middle\""},
    {"{\"VideoTracks\":[{\"VideoTrackClips\":[" V1 "]}],\"SubtitleTracks\":[{"
     "\"SubtitleTrackClips\":[{\"Type\":\"Text\"}]}]}",
     "SubtitleTracks[0].SubtitleTrackClips[0].Content: required"},
    {"{\"VideoTracks\":[{\"VideoTrackClips\":[" V1 "]}],\"SubtitleTracks\":[{"
     "\"SubtitleTrackClips\":[{\"Type\":\"Text\",\"Content\":\"x\",\"FontUrl\":"
     "\"https://oss.example.com/f.ttf?Signature=x\"}]}]}",
     "SubtitleTracks[0].SubtitleTrackClips[0].FontUrl: remote font"},
    {"{\"VideoTracks\":[{\"VideoTrackClips\":[" V1 "]}],\"SubtitleTracks\":[{"
     "\"SubtitleTrackClips\":[{\"Type\":\"Text\",\"Content\":\"x\",\"ScrollSpeed\":50}]}]}",
     "SubtitleTracks[0].SubtitleTrackClips[0].ScrollSpeed: scrolling text is not supported"},
    {"{\"VideoTracks\":[{\"TrackShortenMode\":\"Fast\",\"VideoTrackClips\":[" V1 "]}]}",
     "VideoTracks[0].TrackShortenMode: unknown value (only \"AutoSpeed\")"},
    {"{\"ImageTracks\":[{\"ImageTrackClips\":[{\"MediaURL\":\"l.png\"}]}],\"AudioTracks\":[{"
     "\"AudioTrackClips\":[{\"MediaURL\":\"m.m4a\",\"Out\":3}]}]}",
     "ImageTracks: image tracks need at least one video track"},
    {"{\"VideoTracks\":{}}", "VideoTracks: must be an array"},
    {"[1]", "Timeline: must be a JSON object"},
    {"\"not json\"", "Timeline: the string does not hold valid JSON"},
};

static void test_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct vodq_aliyun_result r;
        struct vodq_err err = {0};
        enum vodq_rc rc = import(refused[i].json, false, &r, &err);
        if (rc != VODQ_ERR_INVALID || strncmp(err.msg, refused[i].msg, strlen(refused[i].msg)))
            print_error("case %zu: rc=%d msg=\"%s\"\n  want \"%s\"\n", i, rc, err.msg,
                        refused[i].msg);
        assert_int_equal(rc, VODQ_ERR_INVALID);
        assert_true(err.permanent);
        assert_null(r.timeline);
    }
}

/* Lenient: effects are dropped and listed; clip-level refusals stay errors. */
static void test_lenient(void **state)
{
    struct vodq_aliyun_result r;
    struct vodq_err err = {0};
    (void)state;

    assert_int_equal(import(FX("{\"Type\":\"VFX\",\"SubType\":\"heartbeat\"},{\"Type\":\"Filter\","
                               "\"SubType\":\"pf1\"},{\"Type\":\"Volume\",\"Gain\":0.5}"),
                            true, &r, &err),
                     VODQ_OK);
    assert_int_equal(cJSON_GetArraySize(r.dropped), 2);
    assert_string_equal(cJSON_GetArrayItem(r.dropped, 0)->valuestring,
                        "VideoTracks[0].VideoTrackClips[0].Effects[0]: VFX \"heartbeat\" is an "
                        "Aliyun cloud asset (dropped)");
    const cJSON *c0 =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.timeline,
                                                                                      "tracks"),
                                                                   0),
                                               "clips"),
                           0);
    assert_float_equal(cJSON_GetObjectItem(c0, "volume")->valuedouble, 0.5, 1e-9);
    vodq_aliyun_result_cleanup(&r);

    /* an unmapped font falls back to the default font */
    assert_int_equal(import("{\"VideoTracks\":[{\"VideoTrackClips\":[" V1 "]}],\"SubtitleTracks\":"
                            "[{\"SubtitleTrackClips\":[{\"Content\":\"x\",\"Font\":\"Comic\"}]}]}",
                            true, &r, &err),
                     VODQ_OK);
    assert_int_equal(cJSON_GetArraySize(r.dropped), 1);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.timeline, "captions"),
                                                       0),
                                    "font"));
    vodq_aliyun_result_cleanup(&r);

    /* an unmapped MediaId is never dropped */
    assert_int_equal(import(DOC("{\"MediaId\":\"zzz\",\"Out\":2}"), true, &r, &err),
                     VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "\"zzz\" has no mapping"));
}

static const cJSON *path_get(const cJSON *j, const char *const *keys)
{
    for (; *keys && j; keys++) {
        char *end;
        long i = strtol(*keys, &end, 10);
        j = *end == '\0' ? cJSON_GetArrayItem(j, (int)i) : cJSON_GetObjectItem(j, *keys);
    }
    return j;
}

#define NUM(j, ...) (path_get((j), (const char *const[]){__VA_ARGS__, NULL})->valuedouble)
#define STR(j, ...) (path_get((j), (const char *const[]){__VA_ARGS__, NULL})->valuestring)
#define HAS(j, ...) (path_get((j), (const char *const[]){__VA_ARGS__, NULL}) != NULL)

/* Timing rules (spec 11): numbers as strings, back-to-back placement, gaps
 * filled black, Speed, TimelineOut cut and hold, transitions overlap. */
static void test_timing(void **state)
{
    struct vodq_aliyun_result r;
    struct vodq_err err = {0};
    (void)state;

    assert_int_equal(
        import(DOC("{\"MediaURL\":\"a.mp4\",\"In\":\"1\",\"Out\":\"3\",\"Effects\":[{\"Type\":"
                   "\"Transition\",\"SubType\":\"directional\",\"Duration\":\"0.5\"}]},"
                   "{\"MediaURL\":\"a.mp4\",\"Out\":4,\"Speed\":2},"
                   "{\"MediaURL\":\"a.mp4\",\"Out\":4,\"TimelineIn\":5.5,\"TimelineOut\":6.5},"
                   "{\"MediaURL\":\"a.mp4\",\"Out\":1,\"TimelineOut\":9},"
                   "{\"MediaURL\":\"b.png\",\"Type\":\"Image\",\"Duration\":1.5,\"Effects\":["
                   "{\"Type\":\"Transition\",\"SubType\":\"fade\"}]}"),
               false, &r, &err),
        VODQ_OK);
    const cJSON *t = r.timeline;
    /* clip 0: 2 s, transition 0.5 into clip 1 (2 s at speed 2): ends 3.5 */
    assert_float_equal(NUM(t, "tracks", "0", "clips", "0", "in"), 1, 1e-9);
    assert_string_equal(STR(t, "tracks", "0", "clips", "0", "transition", "type"), "diagtl");
    assert_float_equal(NUM(t, "tracks", "0", "clips", "1", "speed"), 2, 1e-9);
    /* a 2 s gap of black, then clip 2 cut to 1 s by TimelineOut */
    assert_string_equal(STR(t, "tracks", "0", "clips", "2", "type"), "color");
    assert_float_equal(NUM(t, "tracks", "0", "clips", "2", "duration"), 2, 1e-9);
    assert_float_equal(NUM(t, "tracks", "0", "clips", "3", "out"), 1, 1e-9);
    /* clip 3: 1 s of source held to 2.5 s (TimelineOut 9 from 6.5) */
    assert_float_equal(NUM(t, "tracks", "0", "clips", "4", "freeze"), 1.5, 1e-9);
    /* the last clip's transition has nothing to join: dropped with a note */
    assert_false(HAS(t, "tracks", "0", "clips", "5", "transition"));
    assert_float_equal(NUM(t, "tracks", "0", "clips", "5", "duration"), 1.5, 1e-9);
    /* 2 + 2 - 0.5 + 2 + 1 + 2.5 + 1.5 */
    assert_float_equal(NUM(t, "output", "max_duration"), 10.5, 1e-9);
    assert_true(cJSON_GetArraySize(r.notes) >= 2);
    vodq_aliyun_result_cleanup(&r);
}

/* Geometry (spec 3.1, 6): an upper track in pixels and fractions, natural
 * placement when nothing is given, AdaptMode, FECanvas scaling. */
static void test_geometry(void **state)
{
    struct vodq_aliyun_result r;
    struct vodq_err err = {0};
    cJSON *doc, *cfg;
    struct vodq_aliyun_opts o;
    (void)state;

    doc = cJSON_Parse(
        "{\"FECanvas\":{\"Width\":320,\"Height\":180},\"VideoTracks\":["
        "{\"VideoTrackClips\":[{\"MediaURL\":\"a.mp4\",\"Out\":4}]},"
        "{\"VideoTrackClips\":[{\"MediaURL\":\"b.mp4\",\"Out\":2,\"X\":0.5,\"Y\":0.25,"
        "\"Width\":0.5,\"Height\":0.5,\"AdaptMode\":\"Cover\",\"TimelineIn\":1},"
        "{\"MediaURL\":\"c.mp4\",\"Out\":1,\"X\":16,\"Y\":9,\"Width\":160,\"Height\":90}]}],"
        "\"SubtitleTracks\":[{\"SubtitleTrackClips\":[{\"Content\":\"a\\\\nb\",\"X\":0.5,"
        "\"Y\":0.9,\"Alignment\":\"BottomCenter\",\"FontSize\":18,\"FontColor\":\"FF0000\","
        "\"FontColorOpacity\":0.5,\"BorderStyle\":3,\"BackColour\":\"#00FF00\",\"Outline\":2,"
        "\"TimelineIn\":1,\"TimelineOut\":2}]}]}");
    cfg = cJSON_Parse("{\"Width\":\"640\",\"Height\":360,\"Bitrate\":1500,"
                      "\"Video\":{\"Fps\":25,\"Codec\":\"H.264\"}}");
    memset(&o, 0, sizeof(o));
    o.output_config = cfg;
    assert_int_equal(vodq_aliyun_import(doc, &o, &r, &err), VODQ_OK);
    const cJSON *t = r.timeline;
    assert_float_equal(NUM(t, "output", "width"), 640, 0);
    assert_float_equal(NUM(t, "output", "bitrate"), 1500000, 0);
    assert_float_equal(NUM(t, "output", "fps"), 25, 0);
    assert_string_equal(STR(t, "tracks", "0", "clips", "0", "fit"), "contain");
    /* fractions of the 640x360 output */
    assert_float_equal(NUM(t, "tracks", "1", "clips", "0", "x"), 320, 0);
    assert_float_equal(NUM(t, "tracks", "1", "clips", "0", "y"), 90, 0);
    assert_float_equal(NUM(t, "tracks", "1", "clips", "0", "width"), 320, 0);
    assert_string_equal(STR(t, "tracks", "1", "clips", "0", "fit"), "cover");
    assert_float_equal(NUM(t, "tracks", "1", "clips", "0", "start"), 1, 0);
    /* pixels of the 320x180 FECanvas, doubled; Fill = stretch */
    assert_float_equal(NUM(t, "tracks", "1", "clips", "1", "x"), 32, 0);
    assert_float_equal(NUM(t, "tracks", "1", "clips", "1", "height"), 180, 0);
    assert_string_equal(STR(t, "tracks", "1", "clips", "1", "fit"), "stretch");
    /* back to back after the first clip of the track */
    assert_float_equal(NUM(t, "tracks", "1", "clips", "1", "start"), 3, 0);
    /* caption: bottom-centre anchor at (320, 324): 36 px up from the bottom */
    const cJSON *c = path_get(t, (const char *const[]){"captions", "0", NULL});
    assert_string_equal(STR(c, "text"), "a\nb");
    assert_string_equal(STR(c, "anchor"), "bottom");
    assert_float_equal(NUM(c, "y"), 36, 0);
    assert_float_equal(NUM(c, "size"), 36, 0);
    assert_string_equal(STR(c, "color"), "#FF000080");
    assert_string_equal(STR(c, "box", "color"), "#00FF00ff");
    assert_float_equal(NUM(c, "end"), 2, 0);
    vodq_aliyun_result_cleanup(&r);
    cJSON_Delete(doc);
    cJSON_Delete(cfg);
}

/* A bottom track with a boxed clip is drawn over a black canvas; the
 * MediaId map, image tracks, audio tracks, effect tracks, subtitle files. */
static void test_layout(void **state)
{
    struct vodq_aliyun_result r;
    struct vodq_err err = {0};
    (void)state;

    assert_int_equal(
        import("{\"VideoTracks\":[{\"VideoTrackClips\":[{\"MediaId\":\"abc123\",\"Out\":3,"
               "\"Width\":0.5,\"Height\":1}]},{\"MainTrack\":true,\"VideoTrackClips\":["
               "{\"MediaURL\":\"b.mp4\",\"Out\":2,\"X\":0.5,\"Width\":0.5,\"Height\":1,"
               "\"Effects\":[{\"Type\":\"Crop\",\"X\":0.25,\"Width\":0.5},{\"Type\":\"Rotate\","
               "\"Degree\":90},{\"Type\":\"Flip\",\"Direction\":\"vertical\"},{\"Type\":"
               "\"FreezeFrame\",\"Duration\":0.5},{\"Type\":\"AFade\",\"SubType\":\"Out\","
               "\"Duration\":0.5}]}]}],"
               "\"ImageTracks\":[{\"ImageTrackClips\":[{\"ImageId\":\"img1\",\"X\":10,\"Y\":10,"
               "\"Width\":64,\"TimelineIn\":\"0.5\"}]}],"
               "\"AudioTracks\":[{\"AudioTrackClips\":[{\"MediaURL\":\"m.m4a\",\"Out\":1},"
               "{\"MediaURL\":\"m.m4a\",\"In\":1,\"Out\":2,\"LoopMode\":true,\"Effects\":[{"
               "\"Type\":\"Volume\",\"Gain\":\"0.25\"}]}]}],"
               "\"EffectTracks\":[{\"EffectTrackItems\":[{\"Type\":\"Volume\",\"Gain\":0,"
               "\"TimelineIn\":1,\"TimelineOut\":1.5}]}],"
               "\"SubtitleTracks\":[{\"SubtitleTrackClips\":[{\"Type\":\"Subtitle\",\"FileURL\":"
               "\"subs.ass\",\"TimelineIn\":0.5}]}]}",
               false, &r, &err),
        VODQ_OK);
    const cJSON *t = r.timeline;
    /* the MainTrack (2 s + 0.5 s freeze) sets the length; a black canvas */
    assert_string_equal(STR(t, "tracks", "0", "clips", "0", "type"), "color");
    assert_float_equal(NUM(t, "tracks", "0", "clips", "0", "duration"), 2.5, 1e-9);
    assert_float_equal(NUM(t, "output", "max_duration"), 2.5, 1e-9);
    assert_string_equal(STR(t, "tracks", "1", "clips", "0", "src"), "mapped.mp4");
    const cJSON *b = path_get(t, (const char *const[]){"tracks", "2", "clips", "0", NULL});
    assert_float_equal(NUM(b, "crop", "x"), 0.25, 1e-9);
    assert_float_equal(NUM(b, "rotate"), 90, 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "vflip")));
    assert_float_equal(NUM(b, "freeze"), 0.5, 1e-9);
    assert_float_equal(NUM(b, "fade_out"), 0.5, 1e-9);
    /* image track: above both video tracks, until the end */
    assert_string_equal(STR(t, "tracks", "3", "clips", "0", "src"), "logo.png");
    assert_float_equal(NUM(t, "tracks", "3", "clips", "0", "duration"), 2, 1e-9);
    /* audio: back to back, the loop without TimelineOut runs to the end */
    assert_float_equal(NUM(t, "audio", "1", "start"), 1, 1e-9);
    assert_true(cJSON_IsTrue(path_get(t, (const char *const[]){"audio", "1", "loop", NULL})));
    assert_float_equal(NUM(t, "audio", "1", "volume"), 0.25, 1e-9);
    assert_float_equal(NUM(t, "volume_ranges", "0", "volume"), 0, 0);
    assert_string_equal(STR(t, "subtitles", "0", "src"), "subs.ass");
    assert_float_equal(NUM(t, "subtitles", "0", "start"), 0.5, 1e-9);
    vodq_aliyun_result_cleanup(&r);
}

/* random and lists: the same seed and document give the same pick; the
 * pick is one of the listed ones. */
static void test_random_transitions(void **state)
{
    const char *doc = FX("{\"Type\":\"Transition\",\"SubType\":\"random\"}");
    const char *list = FX("{\"Type\":\"Transition\",\"SubType\":\"wiperight, circleopen\"}");
    struct vodq_aliyun_result r1, r2;
    struct vodq_err err = {0};
    (void)state;

    assert_int_equal(import(doc, false, &r1, &err), VODQ_OK);
    assert_int_equal(import(doc, false, &r2, &err), VODQ_OK);
    assert_string_equal(STR(r1.timeline, "tracks", "0", "clips", "0", "transition", "type"),
                        STR(r2.timeline, "tracks", "0", "clips", "0", "transition", "type"));
    vodq_aliyun_result_cleanup(&r1);
    vodq_aliyun_result_cleanup(&r2);
    assert_int_equal(import(list, false, &r1, &err), VODQ_OK);
    const char *ty = STR(r1.timeline, "tracks", "0", "clips", "0", "transition", "type");
    assert_true(strcmp(ty, "wiperight") == 0 || strcmp(ty, "circleopen") == 0);
    vodq_aliyun_result_cleanup(&r1);
}

/* Disabled tracks and clips are skipped [U 13]. */
static void test_disabled(void **state)
{
    struct vodq_aliyun_result r;
    struct vodq_err err = {0};
    (void)state;

    assert_int_equal(import(DOC("{\"MediaURL\":\"a.mp4\",\"Out\":2,\"Disabled\":true}," V1
                                ",{\"MediaURL\":\"b.mp4\",\"Out\":1}"),
                            false, &r, &err),
                     VODQ_OK);
    assert_int_equal(cJSON_GetArraySize(path_get(r.timeline, (const char *const[]){
                                                                 "tracks", "0", "clips", NULL})),
                     2);
    assert_float_equal(NUM(r.timeline, "output", "max_duration"), 3, 1e-9);
    vodq_aliyun_result_cleanup(&r);
}

/* ReferenceClipId (spec 11.5): the official example, a referencing clip
 * between two fixed 5 s clips: the third follows it; a shorter clip is
 * slowed down to fill, a longer one cut. */
static void test_reference(void **state)
{
    struct vodq_aliyun_result r;
    struct vodq_err err = {0};
    (void)state;

    assert_int_equal(
        import("{\"VideoTracks\":[{\"VideoTrackClips\":[{\"MediaURL\":\"a.mp4\",\"Out\":5},"
               "{\"MediaURL\":\"b.mp4\",\"Out\":5,\"ReferenceClipId\":\"voice\"},"
               "{\"MediaURL\":\"c.mp4\",\"Out\":5}]}],"
               "\"AudioTracks\":[{\"AudioTrackClips\":[{\"MediaURL\":\"m.m4a\",\"Out\":2,"
               "\"TimelineIn\":5,\"TimelineOut\":15,\"ClipId\":\"voice\"},{\"MediaURL\":"
               "\"n.m4a\",\"Out\":20,\"ReferenceClipId\":\"short\"}]}],"
               "\"SubtitleTracks\":[]," /* a label on a later video track */
               "\"ImageTracks\":[]}",
               false, &r, &err),
        VODQ_ERR_INVALID); /* "short" is not a label */
    assert_non_null(strstr(err.msg, "AudioTracks[0].AudioTrackClips[1].ReferenceClipId"));

    assert_int_equal(
        import("{\"VideoTracks\":[{\"VideoTrackClips\":[{\"MediaURL\":\"a.mp4\",\"Out\":5},"
               "{\"MediaURL\":\"b.mp4\",\"Out\":5,\"ReferenceClipId\":\"voice\"},"
               "{\"MediaURL\":\"c.mp4\",\"Out\":5}]}],"
               "\"AudioTracks\":[{\"AudioTrackClips\":[{\"MediaURL\":\"m.m4a\",\"Out\":10,"
               "\"TimelineIn\":5,\"ClipId\":\"voice\"}]}]}",
               false, &r, &err),
        VODQ_OK);
    const cJSON *t = r.timeline;
    /* b (5 s) aligned to 5..15: slowed to 0.5x; c follows at 15; 20 s */
    assert_float_equal(NUM(t, "tracks", "0", "clips", "1", "speed"), 0.5, 1e-9);
    assert_string_equal(STR(t, "tracks", "0", "clips", "2", "src"), "c.mp4");
    assert_float_equal(NUM(t, "output", "max_duration"), 20, 1e-9);
    vodq_aliyun_result_cleanup(&r);
}

/* AutoSpeed (spec 11.3): a 6 s upper track sped up 1.5x to the 4 s main
 * track, a 2 s audio track slowed to 0.5x; without the mode, cut. */
static void test_autospeed(void **state)
{
    struct vodq_aliyun_result r;
    struct vodq_err err = {0};
    (void)state;

    assert_int_equal(
        import("{\"VideoTracks\":[{\"MainTrack\":true,\"VideoTrackClips\":[{\"MediaURL\":"
               "\"a.mp4\",\"Out\":4}]},{\"TrackShortenMode\":\"AutoSpeed\",\"VideoTrackClips\":"
               "[{\"MediaURL\":\"b.mp4\",\"Out\":3,\"Width\":0.5},{\"MediaURL\":\"b.mp4\","
               "\"Out\":3,\"Width\":0.5}]}],\"AudioTracks\":[{\"TrackExpandMode\":\"AutoSpeed\","
               "\"AudioTrackClips\":[{\"MediaURL\":\"m.m4a\",\"Out\":2}]}]}",
               false, &r, &err),
        VODQ_OK);
    const cJSON *t = r.timeline;
    assert_float_equal(NUM(t, "tracks", "1", "clips", "0", "speed"), 1.5, 1e-9);
    assert_float_equal(NUM(t, "tracks", "1", "clips", "1", "start"), 2, 1e-9);
    assert_float_equal(NUM(t, "audio", "0", "speed"), 0.5, 1e-9);
    assert_float_equal(NUM(t, "audio", "0", "duration"), 4, 1e-9);
    assert_float_equal(NUM(t, "output", "max_duration"), 4, 1e-9);
    vodq_aliyun_result_cleanup(&r);
}

/* MaxDuration wins over MainTrack [U 14]. */
static void test_maxduration(void **state)
{
    struct vodq_aliyun_result r;
    struct vodq_err err = {0};
    (void)state;

    assert_int_equal(import("{\"MaxDuration\":\"2.5\",\"VideoTracks\":[{\"MainTrack\":true,"
                            "\"VideoTrackClips\":[" V1 "," V1 "]}]}",
                            false, &r, &err),
                     VODQ_OK);
    assert_float_equal(NUM(r.timeline, "output", "max_duration"), 2.5, 1e-9);
    vodq_aliyun_result_cleanup(&r);
}

static void test_detect(void **state)
{
    cJSON *a = cJSON_Parse("{\"VideoTracks\":[]}");
    cJSON *b = cJSON_Parse("{\"version\":1,\"tracks\":[]}");
    cJSON *c = cJSON_Parse("{\"subtitletracks\":[]}");
    (void)state;
    assert_true(vodq_aliyun_detect(a));
    assert_false(vodq_aliyun_detect(b));
    assert_true(vodq_aliyun_detect(c));
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),  cmocka_unit_test(test_lenient),
        cmocka_unit_test(test_timing),   cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_layout),   cmocka_unit_test(test_random_transitions),
        cmocka_unit_test(test_detect),   cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_reference), cmocka_unit_test(test_autospeed),
        cmocka_unit_test(test_maxduration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
