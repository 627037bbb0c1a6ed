/*
 * sb_layout.c - prints where the fields of the pool's shared scoreboard
 * are (app/scoreboard.h), as JSON, for master_test.py: the test builds
 * it against the headers of the tree under test and writes slots through
 * /proc/PID/mem as a compromised worker could.  Never built into clientsd.
 */
#include <stddef.h>
#include <stdio.h>

#include "scoreboard.h"

int
main(void)
{
	printf("{\"size\": %zu, \"slots\": %d, \"slot\": %zu, \"slot_size\": %zu, "
	    "\"seq\": %zu, \"state\": %zu, \"pid\": %zu, \"since_ms\": %zu, "
	    "\"req_start_us\": %zu, \"busy\": %d}\n",
	    sizeof(struct scoreboard), SB_SLOTS, offsetof(struct scoreboard, slot),
	    sizeof(struct sb_slot), offsetof(struct sb_slot, seq),
	    offsetof(struct sb_slot, state), offsetof(struct sb_slot, pid),
	    offsetof(struct sb_slot, since_ms), offsetof(struct sb_slot, req_start_us),
	    (int)SB_BUSY);
	return 0;
}
