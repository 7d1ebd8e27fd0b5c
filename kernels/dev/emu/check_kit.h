// kernels/dev/emu/check_kit.h: what the emulated checks of run_emu.sh (*_check.cpp, one translation unit
// each) share: the device error word the kernels raise bits in (a host variable under the emulator), the
// failure and check counts with a FAIL line for the first 20 failures, and bf16 rounding (to nearest even,
// NaN kept a NaN) and widening on the host.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace anvil {
static unsigned emulated_error_word = 0;
unsigned int* device_error_word() { return &emulated_error_word; }
}  // namespace anvil

static int failures = 0, checks = 0;

static void fail(const std::string& what) {
  if (++failures <= 20) printf("  FAIL %s\n", what.c_str());
}

// fp32 -> bf16 bits, round to nearest even
static uint16_t rne(float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

static float widen(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}
