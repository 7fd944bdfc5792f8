/*
 * mime7.c - 8-bit parts re-encoded to 7 bits (hd_mime7_convert), one core.
 *
 * usage: bench_mime7 [SECONDS]     (default 2 per figure)
 *
 * Three 100 KB messages made here (seeded, so every run converts the same
 * bytes): German text with a few 8-bit bytes a line (quoted-printable),
 * Russian text (base64: most bytes 8-bit), and a 7-bit message (only the
 * scan that finds nothing to do). Each is converted into a reused buffer
 * for about SECONDS; beside them, memcpy of the same bytes and
 * hd_mime7_has_8bit, the cost of a copy and of one look at every byte.
 * Prints for each
 *   RESULT herald mime7 <name> <MB/s> MB/s
 * with MB the input's 10^6 bytes.
 */
#include <herald/mime7.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_BYTES (100 * 1000)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A message whose body is lines of words drawn from words[], to about
 * BODY_BYTES. */
static void make(hd_buf *m, const char *header, const char *const *words, size_t nwords)
{
    srand(6152);
    hd_buf_append_cstr(m, header);
    size_t col = 0;
    while (m->len < BODY_BYTES) {
        const char *w = words[(size_t)rand() % nwords];
        hd_buf_append_cstr(m, w);
        col += strlen(w) + 1;
        if (col > 66) {
            hd_buf_append_cstr(m, "\r\n");
            col = 0;
        } else {
            hd_buf_append_byte(m, ' ');
        }
    }
    hd_buf_append_cstr(m, "\r\n");
}

static volatile size_t sink;

static void run(const char *name, const hd_buf *m, double secs, int what)
{
    hd_buf out;
    hd_buf_init(&out, 4 * m->len + 4096);
    hd_mime7_report rep = {0};
    size_t n = 0;
    double t0 = now_s(), t;
    do {
        for (int k = 0; k < 50; k++) {
            hd_buf_reset(&out);
            if (what == 0) {
                if (hd_mime7_convert(hd_buf_slice(m), &out, &rep, NULL) != 0)
                    abort();
            } else if (what == 1) {
                hd_buf_append(&out, m->p, m->len); /* memcpy into the same kind of buffer */
            } else {
                sink += hd_mime7_has_8bit(hd_buf_slice(m));
            }
            n++;
        }
        t = now_s() - t0;
    } while (t < secs);
    double mbs = (double)m->len * (double)n / t / 1e6;
    printf("RESULT herald mime7 %s %.0f MB/s", name, mbs);
    if (what == 0)
        printf("   (%zu -> %zu bytes, %s, %.1f us a message)", m->len, out.len,
               rep.converted ? (rep.to_qp ? "quoted-printable" : "base64") : "unchanged",
               t / (double)n * 1e6);
    printf("\n");
    hd_buf_free(&out);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    static const char *const de[] = {"Termin", "am", "Dienstag", "um", "9:30", "Uhr", "in", "der", "Praxis",
                                     "Dr.", "Müller", "bitte", "bestätigen", "Grüße", "aus", "Köln", "und",
                                     "Ihre", "Versicherungskarte", "mitbringen"};
    static const char *const ru[] = {"Здравствуйте", "Ваша", "запись", "на", "вторник", "в", "9:30",
                                     "клиника", "доктора", "Мюллера", "пожалуйста", "подтвердите"};
    static const char *const en[] = {"Your", "appointment", "is", "on", "Tuesday", "at", "9:30",
                                     "please", "confirm", "reply", "to", "this", "message"};
    static const char header[] = "From: praxis@example.com\r\nTo: patient@example.net\r\n"
                                 "Subject: Termin\r\nMIME-Version: 1.0\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Transfer-Encoding: 8bit\r\n\r\n";
    hd_buf m_de, m_ru, m_en;
    hd_buf_init(&m_de, 1 << 20);
    hd_buf_init(&m_ru, 1 << 20);
    hd_buf_init(&m_en, 1 << 20);
    make(&m_de, header, de, sizeof de / sizeof de[0]);
    make(&m_ru, header, ru, sizeof ru / sizeof ru[0]);
    make(&m_en, header, en, sizeof en / sizeof en[0]);
    run("german-qp", &m_de, secs, 0);
    run("russian-base64", &m_ru, secs, 0);
    run("7bit-unchanged", &m_en, secs, 0);
    run("memcpy", &m_de, secs, 1);
    run("scan-7bit", &m_en, secs, 2); /* a whole look: it finds no 8-bit byte */
    hd_buf_free(&m_de);
    hd_buf_free(&m_ru);
    hd_buf_free(&m_en);
    return 0;
}
