/**
 * `apical inspect`: what a Program contains, in JSON and as text.
 */
import { coreUsage } from '../emulator/capacity.js';
import { ProgramFitError } from '../emulator/errors.js';
import { Chip } from '../emulator/chip.js';
import { CHIP_CORES, CHIP_REVISION, CORE_MAX_NEURONS, CORE_SYNAPSE_BYTES, DEFAULT_CLOCK_HZ } from '../emulator/constants.js';
import { realTimeFactor } from '../emulator/cycleModel.js';
import { disassemble } from '../emulator/microcode.js';
import { Compartment, GroupKind, OutputMode, PortKind, ProjectionKind, Trigger, type Program } from '../emulator/program.js';

export function inspectProgram(p: Program, spikeActivity: number): { json: unknown; text: string } {
  const usage = coreUsage(p);
  const runnable = p.chipRevision === CHIP_REVISION;
  // A Program that does not fit is still shown (with what overflows); only the cycle estimate needs a chip.
  let fitError: string | null = null;
  let est: Float64Array | null = null;
  if (runnable) {
    try {
      est = new Chip(p, { digests: false }).estimateCyclesPerTick(spikeActivity);
    } catch (e) {
      if (!(e instanceof ProgramFitError)) throw e;
      fitError = e.message;
    }
  }
  const cores = usage
    .filter((u) => u.neurons > 0)
    .map((u) => {
      const groups = p.body.groups.filter((g) => g.slices.some((s) => s.core === u.core));
      const compartments = groups.reduce((a, g) => {
        const n = g.slices.filter((s) => s.core === u.core).reduce((x, s) => x + s.count, 0);
        return a + n * (g.kind === GroupKind.Input ? 1 : 1 + (g.hasBasal ? 1 : 0) + (g.hasApical ? 1 : 0));
      }, 0);
      return {
        core: u.core,
        neurons: u.neurons,
        compartments,
        synapses: u.synapses,
        synapseBytes: u.synapseBytes,
        synapseMemoryPercent: (100 * u.synapseBytes) / CORE_SYNAPSE_BYTES,
        neuronPercent: (100 * u.neurons) / CORE_MAX_NEURONS,
        cyclesPerTick: est ? Math.round(est[u.core]) : null,
      };
    });
  const critical = est ? Math.max(...Array.from(est)) : 0;
  const rtf = est ? realTimeFactor(p.body.tickSeconds, critical, DEFAULT_CLOCK_HZ) : null;
  const json = {
    programHash: p.hash,
    name: p.body.name,
    formatVersion: p.formatVersion,
    chipRevision: p.chipRevision,
    runnableOnThisChip: runnable && fitError === null,
    fitError,
    seed: p.seed,
    tickSeconds: p.body.tickSeconds,
    clockHz: DEFAULT_CLOCK_HZ,
    spikeActivityAssumed: spikeActivity,
    criticalPathCyclesPerTick: est ? Math.round(critical) : null,
    realTimeFactor: rtf,
    cores,
    groups: p.body.groups.map((g) => ({
      name: g.name,
      size: g.size,
      kind: GroupKind[g.kind].toLowerCase(),
      output: OutputMode[g.output].toLowerCase(),
      slices: g.slices,
      lut: g.lut >= 0 ? p.body.luts[g.lut].name : null,
    })),
    projections: p.body.projections.map((pr) => ({
      name: pr.name,
      pre: p.body.groups[pr.pre].name,
      post: p.body.groups[pr.post].name,
      kind: ProjectionKind[pr.kind].toLowerCase(),
      target: Compartment[pr.target].toLowerCase(),
      synapses: pr.weights.length,
      weightBits: pr.weightBits,
      weightShift: pr.weightShift,
      delay: pr.delay,
      rule: pr.plasticity
        ? {
            source: pr.plasticity.source,
            fracBits: pr.plasticity.fracBits,
            statements: pr.plasticity.statements.map((s) => ({ trigger: Trigger[s.trigger].toLowerCase(), epochShift: s.epochShift, microcode: disassemble(s.code) })),
          }
        : null,
    })),
    inputs: p.body.inputs.map((i) => ({ name: i.name, kind: PortKind[i.kind].toLowerCase() })),
    probes: p.body.probes.map((pr) => pr.name),
    metadata: p.body.metadata,
  };
  const lines = [
    `${p.body.name}  hash ${p.hash}`,
    `format ${p.formatVersion}, chip revision ${p.chipRevision}${runnable ? '' : ` (this chip is revision ${CHIP_REVISION}: cannot run)`}, seed ${p.seed}, tick ${p.body.tickSeconds * 1e3} ms`,
    ...(fitError ? [`does not fit: ${fitError}`] : []),
    `cores used ${cores.length} of ${CHIP_CORES}; critical path ≈ ${json.criticalPathCyclesPerTick ?? '?'} cycles/tick → real-time factor ${rtf?.toFixed(2) ?? '?'} at ${DEFAULT_CLOCK_HZ / 1e6} MHz (spiking activity ${spikeActivity})`,
    ...cores.map(
      (c) =>
        `  core ${String(c.core).padStart(2)}: ${c.neurons} neurons (${c.neuronPercent.toFixed(0)} %), ${c.synapses} synapses, ${(c.synapseBytes / 1024).toFixed(1)} KiB (${c.synapseMemoryPercent.toFixed(0)} %), ≈ ${c.cyclesPerTick ?? '?'} cycles/tick`,
    ),
    'groups:',
    ...json.groups.map((g) => `  ${g.name}: ${g.size} ${g.kind} ${g.output}${g.lut ? ` φ=${g.lut}` : ''}`),
    'projections:',
    ...json.projections.map(
      (pr) => `  ${pr.name}: ${pr.pre} → ${pr.post}.${pr.target} ${pr.kind} ${pr.synapses} syn, ${pr.weightBits}-bit ·2^-${pr.weightShift}, delay ${pr.delay}${pr.rule ? `\n    rule: ${pr.rule.source.replace(/\n/g, '; ')}` : ''}`,
    ),
  ];
  return { json, text: lines.join('\n') };
}
