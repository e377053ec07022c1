/*
 * Link check of the chip core for Cortex-M (make cortex-m): a bare main that loads a Program from a buffer the
 * board would fill (here: empty, so apx_load reports bad magic) and runs a tick if it loaded. Not run on the host.
 */
#include "chip.h"

static uint8_t program_buffer[256];
volatile int apx_status;
volatile uint32_t apx_digest;

int main(void)
{
    apx_chip *chip;
    apx_status = apx_load(program_buffer, sizeof program_buffer, &chip);
    if (apx_status == APX_OK) {
        apx_step(chip);
        apx_digest = apx_chip_digest(chip);
    }
    return 0;
}
