/*
 * hpack.h - an HPACK decoder (RFC 7541) that knows what it does not know.
 *
 * The decoder of every HTTP/2 connection: from its start (then it is a
 * plain, complete decoder, checked against nghttp2's inflater by the tests
 * and a differential fuzzer) or picked up mid-stream. There the encoder's
 * dynamic table was
 * filled before the capture began, so a reference into it may be unknowable.
 * This decoder never guesses:
 *  - static-table references and literals are decoded as usual (Huffman
 *    included);
 *  - entries inserted since the pickup (literals with incremental indexing)
 *    are known: they are always the newest, so dynamic index 62+j with j <
 *    known_entries is a fact; a larger index refers to an entry from before
 *    the pickup and is reported as unknown (GW_HPACK_NAME_UNKNOWN and/or
 *    GW_HPACK_VALUE_UNKNOWN), never as some other entry;
 *  - a dynamic table size update to 0 (or any size update after which the
 *    known entries account for the whole table) clears the unknown part:
 *    from then on the table is fully known (gw_hpack_fully_known()).
 * Memory: the known entries are capped at max_table bytes (RFC 7541 size:
 * name + value + 32 each); older known entries past the cap are forgotten
 * and become unknown, which stays sound.
 *
 * Once fully known, it is a complete HPACK decoder and matches nghttp2's
 * output on the same input (tests check that).
 */
#ifndef GRPCWATCH_HPACK_H
#define GRPCWATCH_HPACK_H

#include "grpcwatch/common.h"
#include "grpcwatch/cursor.h"

#define GW_HPACK_NAME_UNKNOWN 0x1   /* name was a reference to a lost entry */
#define GW_HPACK_VALUE_UNKNOWN 0x2  /* value was a reference to a lost entry */

/* Longest name or value accepted, decoded or on the wire (longer is
 * GW_ERR_MALFORMED). */
#define GW_HPACK_MAX_STRING 65536u
/* Maximum table size before any update: SETTINGS_HEADER_TABLE_SIZE's
 * initial value (RFC 9113 6.5.2). */
#define GW_HPACK_DEFAULT_TABLE 4096u

/* One decoded field. name/value are NULL (len 0) when unknown. Pointers are
 * valid only during the call. */
typedef void (*gw_hpack_field_fn)(void *user, const uint8_t *name, size_t namelen,
                                  const uint8_t *value, size_t valuelen, unsigned flags);

struct gw_hpack;
struct gw_pool;

/* known_from_start: true for a decoder that saw the connection start (the
 * table is empty and fully known), false for a mid-stream pickup.
 * max_table: the cap on the bytes of known entries, and the largest size a
 * dynamic table size update may set, as the SETTINGS_HEADER_TABLE_SIZE the
 * decoder sent (though GW_HPACK_DEFAULT_TABLE is always allowed; above the
 * larger of the two is GW_ERR_MALFORMED). The maximum size starts at
 * GW_HPACK_DEFAULT_TABLE. NULL if out of memory. */
struct gw_hpack *gw_hpack_create(uint32_t max_table, bool known_from_start);
/* The same, with every allocation from pool (NULL: malloc). */
struct gw_hpack *gw_hpack_create_in(struct gw_pool *pool, uint32_t max_table, bool known_from_start);
void gw_hpack_destroy(struct gw_hpack *h);

/* Decodes one complete header block (HEADERS + CONTINUATION payloads joined,
 * padding and priority removed). Returns GW_OK, or GW_ERR_MALFORMED for an
 * invalid encoding (bad integer, bad Huffman, index 0, index past the static
 * table with no dynamic table at all, size update above max or not at the
 * block start...). Fields decoded before the error were already reported.
 * GW_ERR_NOMEM if a Huffman string's buffer can not grow. After any error
 * the table is no longer trusted: the decoder goes on as a fresh mid-stream
 * pickup (nothing known until a size update proves it). cb may be NULL; it
 * must not call back into h. */
int gw_hpack_decode_block(struct gw_hpack *h, const uint8_t *p, size_t n,
                          gw_hpack_field_fn cb, void *user);

/* The same block fed in pieces as they arrive (nghttp2's inflater streams
 * the same way): begin, then feed each piece, then end.
 *  - feed decodes every representation wholly inside p[0..n) and sets
 *    *used to where the first incomplete one starts; the caller keeps
 *    p[*used..n) and passes it again, in front of the next bytes. A string
 *    announced over GW_HPACK_MAX_STRING is GW_ERR_MALFORMED as soon as its
 *    length is read. Errors as for gw_hpack_decode_block.
 *  - end takes how many bytes were left over (a representation the block
 *    cut: GW_ERR_MALFORMED, as is a size update still owed). */
void gw_hpack_block_begin(struct gw_hpack *h);
int gw_hpack_block_feed(struct gw_hpack *h, const uint8_t *p, size_t n, size_t *used,
                        gw_hpack_field_fn cb, void *user);
int gw_hpack_block_end(struct gw_hpack *h, size_t unused);

bool gw_hpack_fully_known(const struct gw_hpack *h);
/* Entries known / bytes they use (for tests and stats). */
uint32_t gw_hpack_known_entries(const struct gw_hpack *h);
uint32_t gw_hpack_known_size(const struct gw_hpack *h);
/* Huffman-coded bytes decoded so far: each string once, however the block
 * was cut into pieces (for tests and stats). */
uint64_t gw_hpack_huffman_in(const struct gw_hpack *h);

/* The encoder's current maximum table size is a known fact: size (at most
 * what a size update may set, else GW_ERR_ARG). Acts as a dynamic table
 * size update to size would: evicts to fit, makes later eviction exact and
 * may prove the table fully known. For callers that know
 * it, e.g. RFC 7541 C.5/C.6 (SETTINGS_HEADER_TABLE_SIZE 256, no update).
 * Not for a SETTINGS_HEADER_TABLE_SIZE seen on the wire: that only bounds
 * what the encoder may choose. Call between blocks. */
int gw_hpack_set_max_size(struct gw_hpack *h, uint32_t size);

/* The decoder's side has settled SETTINGS_HEADER_TABLE_SIZE at size (RFC
 * 9113 6.5.3: a larger value from when it is sent, a smaller one from the
 * encoder's ACK): from now on a size update may set at most size (above is
 * GW_ERR_MALFORMED). When size is below the encoder's current maximum, the
 * table is cut to it at once, the next block must open with a size update,
 * else it is GW_ERR_MALFORMED, and that first update may set at most the
 * smallest such cut since the last update (RFC 7541 4.2). nghttp2's
 * inflater behaves the same (nghttp2_hd_inflate_change_table_size). For a
 * decoder that follows the connection's SETTINGS from its start; call
 * between blocks. */
void gw_hpack_set_ceiling(struct gw_hpack *h, uint32_t size);

/* The decoder follows the SETTINGS of a connection seen from its start: a
 * size update may set at most the protocol's initial 4096 until
 * gw_hpack_set_ceiling says otherwise (as an nghttp2 inflater starts). */
void gw_hpack_follow_settings(struct gw_hpack *h);

/* Known entry j (0 = newest = dynamic index 62 + j), for tests and
 * diagnostics. false if j >= gw_hpack_known_entries(h). name is NULL and
 * *flags has GW_HPACK_NAME_UNKNOWN when the entry's name is unknown.
 * Pointers stay valid until the next call that changes the table. */
bool gw_hpack_known_entry(const struct gw_hpack *h, uint32_t j, const uint8_t **name,
                          size_t *namelen, const uint8_t **value, size_t *valuelen,
                          unsigned *flags);

/* RFC 7541 5.1: the integer with a prefix_bits-bit prefix (1..8) that
 * starts at the cursor's next byte (the bits above the prefix belong to the
 * representation and are ignored), consumed. GW_OK; GW_ERR_TRUNCATED when
 * the input ends inside it; GW_ERR_MALFORMED above 2^32 - 1 or with more
 * continuation bytes than such a value needs (5). The one HPACK integer
 * decoder: the decoder below and the mid-stream role probe use it. */
int gw_hpack_int(struct gw_cursor *c, unsigned prefix_bits, uint32_t *out);

/* RFC 7541 Huffman decoding of n bytes into out (capacity outcap). Returns
 * the decoded length, or -1 if the input is invalid (EOS inside, padding
 * longer than 7 bits or not all ones) or out is too small. */
long gw_hpack_huffman_decode(const uint8_t *p, size_t n, uint8_t *out, size_t outcap);

#endif
