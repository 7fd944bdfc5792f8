/*
 * event_type.c - the names of the event types (hd_event_type), from the
 * one table in store.h. Apart from queue.c so that a reader of the names
 * (the configuration's webhook filter) needs no SQLite.
 */
#include <stdbool.h>
#include <stddef.h>

#include <herald/store.h>

static const struct {
    const char *name;
    bool only_named;
} event_types[] = {
#define EVENT_ROW(id, name, only_named) [HD_EVENT_##id] = {name, only_named},
    HD_EVENT_TYPES(EVENT_ROW)
#undef EVENT_ROW
};

const char *hd_event_type_name(hd_event_type t)
{
    return (size_t)t < HD_EVENT_TYPE_COUNT ? event_types[t].name : "?";
}

int hd_event_type_parse(hd_slice name, hd_event_type *out)
{
    for (size_t i = 0; i < HD_EVENT_TYPE_COUNT; i++)
        if (hd_slice_eq_cstr(name, event_types[i].name)) {
            *out = (hd_event_type)i;
            return 0;
        }
    return HD_EINVAL;
}

bool hd_event_type_explicit(hd_event_type t)
{
    return (size_t)t < HD_EVENT_TYPE_COUNT && event_types[t].only_named;
}
