"""Time one full fit of a 4096-channel PIXL-like spectrum with pixlspec and with PyMca's McaTheory.

Not a test: run by hand, ``python benchmarks/bench_single_fit.py [--repeat N] [--no-pymca] [--profile N]``.

The spectrum is ``pixlspec.simulate.simulate_spectrum(basalt_areas(1e6), Instrument.pixl(), 10 s)``:
4096 channels, ~1.3 million counts, 18 element groups (Na … Zr, K lines) plus Rh tube scatter,
continuum, Si escape and pile-up, with the true areas in ``spectrum.metadata["truth"]``.

For each pixlspec configuration the script runs warm-up fits (numba kernels load or compile, caches
fill), then times ``--repeat`` full ``pixlspec.fit_spectrum`` calls (wall clock, ``perf_counter``)
and prints the median, min–max, spectra/s and the number of model evaluations (``nfev``).

Where PyMca5 is installed, ``PyMca5.PyMcaPhysics.xrf.ClassMcaTheory.McaTheory`` fits the *same*
spectrum, elements and range (0.81–25 keV), configured programmatically (Rh tube, Be window, Si
detector, escape, pile-up) in three variants: "strip" (PyMca's default strip background, hypermet
Gaussian + short tail + step: the reference), "snip" (SNIP background, same shapes) and "gauss"
(strip background, Gaussian peaks only: PyMca's fastest set-up). Two times are printed:

* "fit": ``setData`` (incl. its background) + ``estimate`` + ``startfit`` + ``digestresult`` on a
  configured instance, what a batch pays per spectrum;
* "set-up + fit": ``McaTheory()`` + ``configure(config)`` + the fit, what a one-off fit pays.
  (``fit_spectrum`` builds its model on every call, so it compares to this one.)

Both tools are scored against the truth: fitted area / true area for Fe, Ca, Si, K, Ti, Mn (all 18
groups with ``--all-elements``). pixlspec areas count every recorded photon of a group (peak, tail and
escape peaks); PyMca's ``fitarea`` excludes the escape peaks, so PyMca is shown raw and with its own
escape-peak counts added back. The list of modelling differences is printed with the results.

BLAS: by default every BLAS library is limited to one thread (``--blas-threads 1``, via threadpoolctl,
applied after all libraries are loaded) so the figures are per core and do not depend on what else
runs on the machine; the default pixlspec fit and the PyMca fit are then timed once more with the BLAS
thread count as installed, to show what a user gets without the limit. The machine, BLAS, versions
and the load average are printed. Peak memory is the process's peak RSS (``getrusage``).

``--profile N`` runs cProfile over N default fits and prints the top functions by own and cumulative
time; ``--accuracy-seeds N`` repeats the accuracy comparison on N simulated spectra (the figures of a
single spectrum scatter by its counting statistics).
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import resource
import sys
import time
import warnings

# run from a source checkout without installing
sys.path.insert(0, os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)))

import numpy as np  # noqa: E402

import pixlspec  # noqa: E402
from pixlspec.config import FitConfig  # noqa: E402
from pixlspec.fit.single import fit_spectrum  # noqa: E402
from pixlspec.simulate import basalt_areas, simulate_spectrum  # noqa: E402

TOTAL_COUNTS = 1e6
LIVE_TIME_S = 10.0
#: Fit range of the PyMca fit (and of the "same range" pixlspec row), eV.
RANGE_EV = (810.0, 25000.0)
TARGET_MS = 50.0
SHOWN = ("Fe", "Ca", "Si", "K", "Ti", "Mn")
#: PyMca variants: (label, background, hypermet short tail + step); the first is the reference.
PYMCA_VARIANTS = (("strip", "strip", True), ("snip", "snip", True), ("gauss", "strip", False))

#: (label, FitConfig keyword arguments)
PIXLSPEC_CONFIGS = (
    ("default (continuum bg, 0.81-28 keV)", {}),
    ("default, 0.81-25 keV (PyMca's range)", {"min_energy_eV": RANGE_EV[0], "max_energy_eV": RANGE_EV[1]}),
    ('background="snip"', {"background": "snip"}),
    ("refine_tails=False, refine_compton=False", {"refine_tails": False, "refine_compton": False}),
)

PYMCA_DIFFERENCES = """\
What differs between the two fits (same spectrum, same 18 element groups, K lines):
  * range: PyMca 0.81-25 keV; pixlspec default 0.81-28 keV (tube voltage), one row at 0.81-25 keV.
  * background: pixlspec fits a physical continuum (tube bremsstrahlung x detector) x cubic B-splines
    together with the peaks; PyMca subtracts a strip (McaTheory.cfg default: 20000 iterations, width 1)
    or SNIP (width 30 channels) background before the fit.
  * weights: PyMca sigma^2 = counts; pixlspec Pearson (sigma^2 = model, one reweighting pass).
  * nonlinear parameters: PyMca (Gefit Levenberg-Marquardt over all ~30 free parameters) refines zero,
    gain, noise, Fano, pile-up factor, short-tail area and slope, step ("gauss": no tail, no step, so
    only the last two differ from a pure Gaussian model); pixlspec refines offset, gain,
    noise, Fano, tail fraction and slope, step, Compton width/shift/tail (10) with the areas solved
    exactly at every step (variable projection).
  * line ratios within a group: PyMca's own rates x (Be 17 um, Si 0.05 um dead layer, Si 500 um, CO2
    3.3 cm); the simulation and pixlspec use xraydb (Elam) intensities x the same efficiency.
  * scatter: the Rayleigh peaks of the Rh K and Rh L tube lines are modelled in PyMca as "Rh K" and
    "Rh L" fluorescence groups (same energies and ratios); PyMca's Compton peak is one line (Rh Ka1,
    160 deg) with the detector width; pixlspec has Doppler-broadened, tailed Compton peaks of every
    Rh K line. PyMca's own "Scatter Peak000" (Rayleigh of Rh Ka1) is held at 0 (it duplicates Rh K).
  * areas: PyMca fitarea = Gaussian + short tail (no escape); pixlspec = every recorded photon of the
    group (peak, tail, escape). "PyMca+esc" adds PyMca's own escape-peak counts to its fitarea.
  * pile-up: PyMca self-convolution of the fitted peaks; pixlspec self-convolution of the data.
  * start values: both start from the nominal calibration and resolution (which the simulation used)."""


# ------------------------------------------------------------------------------------------ helpers
def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (MiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20


def current_rss_mib() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss / 2**20


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version_of(module_name: str) -> str:
    try:
        mod = __import__(module_name)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return "not installed"
    v = getattr(mod, "__version__", None)
    if v is None and hasattr(mod, "version"):
        v = mod.version() if callable(mod.version) else mod.version
    return str(v)


def blas_info() -> list[dict]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return threadpool_info()


class BlasLimit:
    """Limit every loaded BLAS/OpenMP library to ``n`` threads (``n`` <= 0: leave as installed)."""

    def __init__(self, n: int):
        self.n = n
        self._limits = []

    def apply(self):
        """(Re)apply the limit; call again after importing something that loads another library."""
        if self.n <= 0:
            return
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            print("threadpoolctl is not installed: BLAS threads left as installed")
            self.n = 0
            return
        self._limits.append(threadpool_limits(limits=self.n, user_api="blas"))

    def release(self):
        for lim in reversed(self._limits):
            lim.restore_original_limits()
        self._limits = []


def summarize(times_s: list[float]) -> dict:
    t = np.asarray(times_s) * 1000.0
    return {"median": float(np.median(t)), "min": float(t.min()), "max": float(t.max()),
            "q1": float(np.percentile(t, 25)), "q3": float(np.percentile(t, 75)), "n": t.size}


def fmt_time(s: dict) -> str:
    return f"{s['median']:8.1f} ms  ({s['min']:.1f}-{s['max']:.1f}, IQR {s['q1']:.1f}-{s['q3']:.1f}, n={s['n']})"


def ratio_str(value: float | None) -> str:
    return "     -" if value is None or not math.isfinite(value) else f"{value:6.3f}"


# ---------------------------------------------------------------------------------------- pixlspec
def time_pixlspec(spectrum, elements, config: FitConfig, warmup: int, repeat: int):
    """Median-able wall times of ``fit_spectrum`` and the last result."""
    result = None
    for _ in range(warmup):
        result = fit_spectrum(spectrum, elements=elements, config=config)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fit_spectrum(spectrum, elements=elements, config=config)
        times.append(time.perf_counter() - t0)
    return times, result


# ------------------------------------------------------------------------------------------- PyMca
def pymca_config(spectrum, elements, background: str, tails: bool = True) -> dict:
    """A McaTheory configuration for ``spectrum`` (PIXL detector A, Rh tube at 28 kV)."""
    from PyMca5.PyMcaPhysics.xrf.ClassMcaTheory import McaTheory

    inst = spectrum.instrument or pixlspec.Instrument.pixl()
    det = inst.detector(spectrum.detector)
    from pixlspec.physics import detector as det_physics

    cfg = McaTheory().configure()  # PyMca's defaults (PyMcaData/McaTheory.cfg)
    e = spectrum.energy_eV
    channels = np.flatnonzero((e >= RANGE_EV[0]) & (e <= RANGE_EV[1]))
    cfg["peaks"] = {el: "K" for el in elements}
    # Rayleigh scatter of the Rh tube lines = Rh K and Rh L lines at their own energies and ratios
    cfg["peaks"]["Rh"] = ["K", "L"]
    fit = cfg["fit"]
    fit.update({
        "xmin": int(channels[0]), "xmax": int(channels[-1]), "use_limit": 1,
        # Gaussian + short tail + step (no long tail), or the Gaussian alone
        "fitfunction": 0, "hypermetflag": (1 | 2 | 8) if tails else 1,
        "escapeflag": 1, "sumflag": 1, "continuum": 0, "linearfitflag": 0, "fitweight": 1,
        "strategyflag": 0, "scatterflag": 1,
        # one excitation energy (no matrix): Rh Ka1; gives the Compton peak of Rh Ka1
        "energy": [20.216], "energyweight": [1.0], "energyflag": [1], "energyscatter": [1],
        "stripflag": 1,
    })
    if background == "snip":
        fit.update({"stripalgorithm": 1, "snipwidth": 30})
    else:  # PyMca's default strip: 20000 iterations, width 1
        fit.update({"stripalgorithm": 0, "stripiterations": 20000, "stripwidth": 1, "stripconstant": 1.0})
    cfg["detector"].update({
        "detele": "Si", "zero": spectrum.offset_eV / 1000.0, "gain": spectrum.gain_eV_per_channel / 1000.0,
        "noise": det.noise_eV / 1000.0, "fano": det.fano,
        # PyMca's default pile-up factor range (0-2e-8) is below this spectrum's pile-up (~3e-8)
        "sum": 1e-7, "deltasum": 1e-7,
        "fixedzero": 0, "fixedgain": 0, "fixednoise": 0, "fixedfano": 0, "fixedsum": 0,
    })
    # tails: start inside the allowed range (a tail area reaching 0 makes Gefit's matrix singular)
    cfg["peakshape"].update({
        "st_arearatio": 0.03, "deltast_arearatio": 0.025, "fixedst_arearatio": 0,
        "st_sloperatio": 0.6, "deltast_sloperatio": 0.5, "fixedst_sloperatio": 0,
        "step_heightratio": 2e-4, "deltastep_heightratio": 1.9e-4, "fixedstep_heightratio": 0,
    })
    rho_gas = det_physics.gas_density_g_cm3(inst.atmosphere, inst.gas_pressure_Pa, inst.gas_temperature_K)
    att = cfg["attenuators"]
    att["Detector"] = [1, "Si1", 2.33, det.si_thickness_um * 1e-4, 1.0]
    att["window"] = [1, "Be1", 1.848, det.window_Be_um * 1e-4, 1.0]
    att["deadlayer"] = [1, "Si1", 2.33, det.dead_layer_um * 1e-4, 1.0]
    att["atmosphere"] = [1, "C1O2", rho_gas, inst.path_out_cm, 1.0] if rho_gas > 0 else [0, "-", 0.0, 0.0, 1.0]
    angle = float(det_physics.scattering_angle_deg(inst.incidence_deg, det.elevation_deg, det.azimuth_deg))
    # no matrix; angles only serve the Compton energy (scattering angle given explicitly)
    att["Matrix"] = [0, "-", 0.0, 0.0, inst.incidence_deg, det.elevation_deg, 1, angle]
    return cfg


class PyMcaRunner:
    def __init__(self, spectrum, elements, background: str, tails: bool = True):
        from PyMca5.PyMcaMath.fitting import Gefit
        from PyMca5.PyMcaPhysics.xrf.ClassMcaTheory import McaTheory

        self._McaTheory = McaTheory
        self._fixed = Gefit.CFIXED
        self.cfg = pymca_config(spectrum, elements, background, tails)
        self.x = np.arange(spectrum.n_channels, dtype=np.float64)
        self.y = np.asarray(spectrum.counts, dtype=np.float64)
        self.xmin, self.xmax = self.cfg["fit"]["xmin"], self.cfg["fit"]["xmax"]
        self.mca = None

    def setup(self):
        mca = self._McaTheory()
        mca.configure(self.cfg)
        self.mca = mca
        return mca

    def fit(self):
        """setData + estimate + startfit + digestresult; returns (phase times, fitresult, digest)."""
        mca = self.mca
        t = [time.perf_counter()]
        mca.setData(self.x, self.y, xmin=self.xmin, xmax=self.xmax)
        t.append(time.perf_counter())
        mca.estimate()
        i = mca.PARAMETERS.index("Scatter Peak000")  # Rayleigh of Rh Ka1: already in the Rh K group
        mca.codes[0, i] = self._fixed
        mca.parameters[i] = 0.0
        t.append(time.perf_counter())
        fitresult = mca.startfit(digest=0)
        t.append(time.perf_counter())
        digest = mca.digestresult()
        t.append(time.perf_counter())
        return np.diff(t), fitresult, digest

    def areas(self, digest) -> tuple[dict, dict]:
        """(fitarea, fitarea + escape-peak counts) per element symbol."""
        mca = self.mca
        n = mca.NGLOBAL
        st = mca.fittedpar[mca.PARAMETERS.index("ST AreaR")]
        raw, with_esc = {}, {}
        for i, group in enumerate(mca.PARAMETERS[n:]):
            if group not in digest or not group.endswith(" K"):
                continue
            el = group.split()[0]
            p = mca.fittedpar[n + i]
            esc = 0.0
            if mca.PEAKS0ESCAPE[i]:
                esc = sum(mca.PEAKS0[i][j, 0] * sum(line[1] for line in lines)
                          for j, lines in enumerate(mca.PEAKS0ESCAPE[i]))
            raw[el] = float(digest[group]["fitarea"])
            with_esc[el] = float(p * (1.0 + st + esc))
        return raw, with_esc


def time_pymca(spectrum, elements, background: str, tails: bool, warmup: int, repeat: int, setup_repeat: int):
    runner = PyMcaRunner(spectrum, elements, background, tails)
    runner.setup()
    for _ in range(warmup):
        runner.fit()
    fit_times, phases = [], []
    fitresult = digest = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        ph, fitresult, digest = runner.fit()
        fit_times.append(time.perf_counter() - t0)
        phases.append(ph)
    raw, with_esc = runner.areas(digest)
    setup_times, full_times = [], []
    for _ in range(warmup):
        runner.setup()
        runner.fit()
    for _ in range(setup_repeat):
        t0 = time.perf_counter()
        runner.setup()
        t1 = time.perf_counter()
        runner.fit()
        full_times.append(time.perf_counter() - t0)
        setup_times.append(t1 - t0)
    mca = runner.mca
    n_free = int(np.sum(mca.codes[0, :] != runner._fixed))
    return {
        "fit": fit_times, "setup": setup_times, "setup+fit": full_times,
        "phases_ms": np.median(np.array(phases), axis=0) * 1000.0,
        "niter": int(fitresult[3]), "chi2_red": float(fitresult[1]), "n_free": n_free,
        "n_params": len(mca.PARAMETERS), "areas": raw, "areas_esc": with_esc,
        "n_channels": int(runner.xmax - runner.xmin + 1), "background": background, "tails": tails,
    }


def accuracy_over_seeds(args, areas, elements, shown, pm_results) -> None:
    """Mean area ratio (and its standard error) over several simulated spectra."""
    seeds = range(args.seed, args.seed + args.accuracy_seeds)
    tools = {"px default": [], **{f"PM {label}+esc": [] for label in pm_results}}
    pulls = []
    for seed in seeds:
        spec = simulate_spectrum(areas, pixlspec.Instrument.pixl(), LIVE_TIME_S, seed=seed)
        t = spec.metadata["truth"]["areas"]
        r = fit_spectrum(spec, elements=elements)
        tools["px default"].append([r.areas[e] / t[e] for e in elements])
        pulls.append([(r.areas[e] - t[e]) / r.sigma[e] for e in elements])
        for label, res in pm_results.items():
            runner = PyMcaRunner(spec, elements, res["background"], res["tails"])
            runner.setup()
            _, _, digest = runner.fit()
            esc = runner.areas(digest)[1]
            tools[f"PM {label}+esc"].append([esc.get(e, np.nan) / t[e] for e in elements])
    print(f"Accuracy over {len(seeds)} simulated spectra (seeds {seeds[0]}-{seeds[-1]}): mean area ratio "
          "+/- its standard error; 'pull' = mean (fit - true)/sigma of pixlspec (0 +/- "
          f"{1 / math.sqrt(len(seeds)):.2f} if unbiased):")
    print(f"  {'group':<6}{'pull':>7}" + "".join(f"{name:>20}" for name in tools))
    arrs = {k: np.array(v) for k, v in tools.items()}
    pull = np.array(pulls)
    for el in shown:
        i = elements.index(el)
        cells = []
        for k, a in arrs.items():
            m, se = np.mean(a[:, i]), np.std(a[:, i], ddof=1) / math.sqrt(a.shape[0])
            cells.append(f"{m:.3f} +/- {se:.3f}")
        print(f"  {el:<6}{np.mean(pull[:, i]):>+7.2f}" + "".join(f"{c:>20}" for c in cells))
    print("  mean |mean ratio - 1| over the 18 groups: " + ", ".join(
        f"{k} {float(np.mean(np.abs(np.mean(a, axis=0) - 1.0))):.3f}" for k, a in arrs.items()))
    print()


# -------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30, help="timed pixlspec fits per configuration")
    ap.add_argument("--warmup", type=int, default=3, help="untimed fits before each timing")
    ap.add_argument("--pymca-repeat", type=int, default=15, help="timed PyMca fits (and set-up + fits)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads during the timings (0: as installed); default 1 = per-core figures")
    ap.add_argument("--no-pymca", action="store_true", help="skip the PyMca comparison")
    ap.add_argument("--no-default-threads", action="store_true",
                    help="skip the extra timing with BLAS threads as installed")
    ap.add_argument("--all-elements", action="store_true", help="accuracy of all 18 groups, not only 6")
    ap.add_argument("--accuracy-seeds", type=int, default=1, metavar="N",
                    help="also average the area ratios over N simulated spectra (seeds seed..seed+N-1)")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also cProfile N default fits and print the top functions by own time")
    args = ap.parse_args()

    warnings.simplefilter("ignore")  # PyMca and lmfit warnings would drown the table
    areas = basalt_areas(TOTAL_COUNTS)
    spectrum = simulate_spectrum(areas, pixlspec.Instrument.pixl(), LIVE_TIME_S, seed=args.seed)
    truth = spectrum.metadata["truth"]["areas"]
    elements = [k for k in areas if not k.startswith("Rh")]

    # load every library before limiting threads: threadpoolctl only sees libraries already loaded
    import lmfit  # noqa: F401
    import scipy.linalg  # noqa: F401
    import scipy.optimize  # noqa: F401

    rss_import = current_rss_mib()
    fit_spectrum(spectrum, elements=elements)  # numba kernels, xraydb tables
    blas_before = blas_info()
    limit = BlasLimit(args.blas_threads)
    limit.apply()

    # --- machine ---------------------------------------------------------------------------------
    print("bench_single_fit: one full fit of a PIXL-like spectrum")
    print(f"date            : {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    ncpu = os.cpu_count()
    try:
        avail = len(os.sched_getaffinity(0))
    except AttributeError:
        avail = ncpu
    print(f"machine         : {cpu_model()}, {ncpu} logical CPUs ({avail} usable), {platform.system()} "
          f"{platform.release()}")
    try:
        la = os.getloadavg()
        print(f"load average    : {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} at start (other processes share the CPUs "
              f"when this exceeds {avail})")
    except OSError:
        pass
    for lib in blas_before:
        print(f"BLAS            : {lib.get('internal_api')} {lib.get('version')} ({lib.get('architecture')}), "
              f"{lib.get('num_threads')} threads as installed, {os.path.basename(lib.get('filepath', ''))}")
    print(f"BLAS threads    : {'limited to ' + str(limit.n) if limit.n > 0 else 'as installed'} during the timings")
    try:
        import numba
        numba_threads = numba.config.NUMBA_NUM_THREADS
    except ImportError:
        numba_threads = "-"
    print(f"versions        : python {platform.python_version()}, pixlspec {pixlspec.__version__}, numpy "
          f"{np.__version__}, scipy {version_of('scipy')}, lmfit {version_of('lmfit')}, numba "
          f"{version_of('numba')} ({numba_threads} threads), PyMca5 {version_of('PyMca5')}")
    print(f"spectrum        : {spectrum.n_channels} channels, {spectrum.total_counts:,.0f} counts, "
          f"{LIVE_TIME_S:g} s, seed {args.seed}, {len(elements)} element groups "
          f"({' '.join(elements)}) + Rh scatter, continuum, escape, pile-up")
    print()

    # --- pixlspec ----------------------------------------------------------------------------------
    print(f"pixlspec.fit_spectrum, {args.warmup} warm-up + {args.repeat} timed fits per configuration "
          f"(target <= {TARGET_MS:.0f} ms median):")
    print(f"  {'configuration':<42}{'median':>11}  {'(min-max, IQR, n)':<37}{'sp/s':>6}{'nfev':>5}"
          f"{'chan':>6}{'chi2r':>7}")
    px_results = {}
    for label, kwargs in PIXLSPEC_CONFIGS:
        config = FitConfig(**kwargs)
        gc.collect()
        times, result = time_pixlspec(spectrum, elements, config, args.warmup, args.repeat)
        s = summarize(times)
        px_results[label] = (s, result)
        print(f"  {label:<42}{fmt_time(s):<50}{1000.0 / s['median']:>6.1f}{result.nfev:>5}"
              f"{result.counts.size:>6}{result.chi2_reduced:>7.3f}")
    rss_px = peak_rss_mib()
    default_s = px_results[PIXLSPEC_CONFIGS[0][0]][0]
    verdict = "meets" if default_s["median"] <= TARGET_MS else "MISSES"
    print(f"  -> default configuration: {default_s['median']:.1f} ms median, {verdict} the {TARGET_MS:.0f} ms target")
    cur = current_rss_mib()
    print(f"  peak RSS after the pixlspec fits: {rss_px:.0f} MiB"
          + (f" (RSS after imports {rss_import:.0f} MiB, now {cur:.0f} MiB)" if cur is not None else ""))
    print()

    # --- PyMca ----------------------------------------------------------------------------------------
    pm_results = {}
    if not args.no_pymca:
        try:
            import PyMca5  # noqa: F401
            from PyMca5.PyMcaPhysics.xrf import ClassMcaTheory  # noqa: F401
        except Exception as exc:  # noqa: BLE001
            print(f"PyMca: not compared ({type(exc).__name__}: {exc})")
            print()
        else:
            limit.apply()  # PyMca may have loaded another threaded library
            print(f"PyMca5 {version_of('PyMca5')} McaTheory, same spectrum, 0.81-25 keV, {args.warmup} warm-up + "
                  f"{args.pymca_repeat} timed runs:")
            for label, bg, tails in PYMCA_VARIANTS:
                shape = "hypermet short tail + step" if tails else "Gaussian only"
                try:
                    gc.collect()
                    r = time_pymca(spectrum, elements, bg, tails, args.warmup, args.pymca_repeat, args.pymca_repeat)
                except Exception as exc:  # noqa: BLE001
                    print(f"  {label} ({bg} background, {shape}): PyMca fit failed ({type(exc).__name__}: {exc})")
                    continue
                pm_results[label] = r
                f, su, full = summarize(r["fit"]), summarize(r["setup"]), summarize(r["setup+fit"])
                ph = r["phases_ms"]
                print(f"  '{label}': {bg} background, {shape} ({r['n_channels']} channels, {r['n_params']} "
                      f"parameters, {r['n_free']} free, {r['niter']} Gefit iterations, chi2r {r['chi2_red']:.3f}):")
                print(f"    fit           {fmt_time(f)}  {1000.0 / f['median']:6.1f} sp/s")
                print(f"                  = setData+background {ph[0]:.1f} + estimate {ph[1]:.1f} + startfit "
                      f"{ph[2]:.1f} + digestresult {ph[3]:.1f} ms (medians)")
                print(f"    set-up        {fmt_time(su)}  (McaTheory() + configure)")
                print(f"    set-up + fit  {fmt_time(full)}  {1000.0 / full['median']:6.1f} sp/s")
            rss_pm = peak_rss_mib()
            print(f"  peak RSS after the PyMca fits: {rss_pm:.0f} MiB (same process, includes pixlspec)")
            print()
            print(PYMCA_DIFFERENCES)
            print()

    # --- accuracy ----------------------------------------------------------------------------------
    shown = elements if args.all_elements else [e for e in SHOWN if e in elements]
    cols = [("px default", px_results[PIXLSPEC_CONFIGS[0][0]][1].areas),
            ("px 25keV", px_results[PIXLSPEC_CONFIGS[1][0]][1].areas),
            ("px snip", px_results[PIXLSPEC_CONFIGS[2][0]][1].areas),
            ("px notail", px_results[PIXLSPEC_CONFIGS[3][0]][1].areas)]
    for i, (label, r) in enumerate(pm_results.items()):
        if i == 0:
            cols.append((f"PM {label}", r["areas"]))
        cols.append((f"PM {label}+esc", r["areas_esc"]))
    sigma = px_results[PIXLSPEC_CONFIGS[0][0]][1].sigma
    print("Accuracy: fitted area / true area (px = pixlspec, PM = PyMca; 'sigma' = pixlspec 1 sigma / area,")
    print("the counting-statistics scatter expected of any unbiased fit):")
    print(f"  {'group':<6}{'true':>9}{'sigma':>7}" + "".join(f"{name:>13}" for name, _ in cols))
    for el in shown:
        t = truth[el]
        print(f"  {el:<6}{t:>9.0f}{sigma[el] / t:>7.3f}"
              + "".join(f"{ratio_str(a.get(el, float('nan')) / t):>13}" for _, a in cols))
    for name_stat, fn in (("mean |r-1|", lambda r: float(np.mean(np.abs(r - 1.0)))),
                          ("max |r-1|", lambda r: float(np.max(np.abs(r - 1.0))))):
        vals = []
        for _, a in cols:
            r = np.array([a.get(el, np.nan) / truth[el] for el in elements])
            vals.append(fn(r) if np.all(np.isfinite(r)) else float("nan"))
        print(f"  {name_stat + ' (18)':<22}" + "".join(f"{ratio_str(v):>13}" for v in vals))
    print()
    if args.accuracy_seeds > 1:
        accuracy_over_seeds(args, areas, elements, shown, pm_results)

    # --- BLAS threads as installed -----------------------------------------------------------------
    if limit.n > 0 and not args.no_default_threads and any((lib.get("num_threads") or 1) > limit.n
                                                           for lib in blas_before):
        limit.release()
        n = max(3, args.repeat // 6)
        print(f"With BLAS threads as installed ({', '.join(str(lib.get('num_threads')) for lib in blas_before)}), "
              f"{n} timed runs:")
        times, result = time_pixlspec(spectrum, elements, FitConfig(), 1, n)
        print(f"  pixlspec default        {fmt_time(summarize(times))}")
        if PYMCA_VARIANTS[0][0] in pm_results:
            runner = PyMcaRunner(spectrum, elements, PYMCA_VARIANTS[0][1], PYMCA_VARIANTS[0][2])
            runner.setup()
            runner.fit()
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                runner.fit()
                times.append(time.perf_counter() - t0)
            print(f"  PyMca fit ('{PYMCA_VARIANTS[0][0]}')      {fmt_time(summarize(times))}")
        try:
            la = os.getloadavg()
            print(f"  load average now: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")
        except OSError:
            pass
        print()
        limit.apply()

    # --- profile -----------------------------------------------------------------------------------
    if args.profile > 0:
        import cProfile
        import pstats

        print(f"cProfile of {args.profile} default fits (BLAS threads "
              f"{'limited to ' + str(limit.n) if limit.n > 0 else 'as installed'}), top 25 by own time:")
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.profile):
            fit_spectrum(spectrum, elements=elements)
        prof.disable()
        stats = pstats.Stats(prof, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)
        print("same profile, top 30 by cumulative time:")
        stats.sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
