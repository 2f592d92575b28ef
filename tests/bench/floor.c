/* floor.c - the floor of make bench: the least any reader of a capture does.
 *
 *   floor FILE
 *
 * Reads FILE with libpcap (pcap_open_offline, pcap_next_ex) and touches
 * every 64-byte cache line of every packet (xors one byte of each into an
 * accumulator), nothing else. Prints "packets N bytes N acc N". grpcwatch's
 * time on the same file, as a ratio floor_time / grpcwatch_time, says how
 * close the sensor comes to the cost of only reading the packets.
 */
#include <pcap/pcap.h>

#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: floor FILE\n");
        return 2;
    }
    pcap_t *pc = pcap_open_offline(argv[1], err);
    if (!pc) {
        fprintf(stderr, "floor: %s\n", err);
        return 2;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    uint64_t packets = 0, bytes = 0;
    unsigned acc = 0;
    int rc;
    while ((rc = pcap_next_ex(pc, &h, &d)) == 1) {
        for (uint32_t i = 0; i < h->caplen; i += 64) acc ^= d[i];
        packets++;
        bytes += h->caplen;
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "floor: %s\n", pcap_geterr(pc));
        return 2;
    }
    pcap_close(pc);
    printf("packets %llu bytes %llu acc %u\n", (unsigned long long)packets, (unsigned long long)bytes, acc);
    return 0;
}
