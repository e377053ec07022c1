#!/usr/bin/env python3
"""CUBA in Brian2's C++ standalone mode: the reference side of `apical bench` (bench/brian2.ts).

Builds the same network statistics as bench/workloads.ts cuba(): N LIF neurons (80 % excitatory), random
connectivity p, tau_m 20 ms, tau_e 5 ms, tau_i 10 ms, refractory 5 ms, potentials in mV relative to the leak
reversal (threshold -1 mV, reset -11 mV, initial potentials uniform in [reset, threshold]), current-based
synapses (w_e, w_i in mV), exact integration at dt, for `seconds` simulated:

    dv/dt = (ge + gi - v) / tau_m,   dge/dt = -ge / tau_e,   dgi/dt = -gi / tau_i

Compiles the project once (timed as compile_seconds), then runs the binary `repeats` times. Per run it reports
Brian2's own measurement of the simulation loop (device._last_run_time: network run only, no process start-up
or file I/O) and the wall time of the whole binary. Prints one JSON object on stdout.

Usage: /usr/bin/python3 bench/cuba_brian2.py --neurons 4000 --seconds 10 --repeats 3 [--dir DIR] ...
"""
import argparse
import json
import os
import sys
import tempfile
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--neurons', type=int, default=4000)
    ap.add_argument('--exc-fraction', type=float, default=0.8)
    ap.add_argument('--connectivity', type=float, default=0.02)
    ap.add_argument('--seconds', type=float, default=10.0)
    ap.add_argument('--dt-ms', type=float, default=0.1)
    ap.add_argument('--we', type=float, default=1.62, help='excitatory weight (mV)')
    ap.add_argument('--wi', type=float, default=-9.0, help='inhibitory weight (mV)')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--seed', type=int, default=11)
    ap.add_argument('--dir', default=None, help='project directory (default: a new temporary directory)')
    a = ap.parse_args()

    try:
        import brian2 as b2
    except ImportError as e:
        print(json.dumps({'available': False, 'reason': f'brian2 not importable: {e}'}))
        return 0
    from brian2 import ms, mV, second

    directory = a.dir or tempfile.mkdtemp(prefix='apical-brian2-')
    b2.set_device('cpp_standalone', directory=directory, build_on_run=False)
    b2.prefs.logging.console_log_level = 'ERROR'
    b2.defaultclock.dt = a.dt_ms * ms
    b2.seed(a.seed)

    n = a.neurons
    n_exc = int(round(n * a.exc_fraction))
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    eqs = '''
    dv/dt  = (ge + gi - v) / taum : volt (unless refractory)
    dge/dt = -ge / taue : volt
    dgi/dt = -gi / taui : volt
    '''
    P = b2.NeuronGroup(n, eqs, threshold='v > -1*mV', reset='v = -11*mV', refractory=5 * ms, method='exact',
                       namespace={'taum': taum, 'taue': taue, 'taui': taui})
    P.v = '-11*mV + rand() * 10*mV'
    Ce = b2.Synapses(P, P, on_pre='ge += we', namespace={'we': a.we * mV})
    Ci = b2.Synapses(P, P, on_pre='gi += wi', namespace={'wi': a.wi * mV})
    Ce.connect(f'i < {n_exc}', p=a.connectivity)
    Ci.connect(f'i >= {n_exc}', p=a.connectivity)
    spikes = b2.SpikeMonitor(P, record=False)
    b2.run(a.seconds * second)

    t0 = time.monotonic()
    b2.device.build(directory=directory, compile=True, run=False, with_output=False)
    compile_seconds = time.monotonic() - t0

    run_seconds, binary_seconds = [], []
    for _ in range(a.repeats):
        t0 = time.monotonic()
        b2.device.run(directory, False, [])
        binary_seconds.append(time.monotonic() - t0)
        run_seconds.append(float(b2.device._last_run_time))
    count = int(spikes.num_spikes)
    print(json.dumps({
        'available': True,
        'brian2Version': b2.__version__,
        'python': sys.version.split()[0],
        'directory': os.path.abspath(directory),
        'neurons': n,
        'synapses': int(len(Ce) + len(Ci)),
        'seconds': a.seconds,
        'dtMs': a.dt_ms,
        'compileSeconds': compile_seconds,
        'runSeconds': run_seconds,
        'binarySeconds': binary_seconds,
        'spikes': count,
        'rateHz': count / (n * a.seconds),
        'compilerFlags': b2.prefs.codegen.cpp.extra_compile_args_gcc,
    }))
    return 0


if __name__ == '__main__':
    sys.exit(main())
