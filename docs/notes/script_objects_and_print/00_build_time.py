# Measures cold and warm load_inline build time of the minimal torchbind class (_tb_ext.py).
import os, shutil, subprocess, sys, time
d = "/tmp/effmodel_tb_build"
shutil.rmtree(d, ignore_errors=True)
print("g++:", subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0])
print("nproc:", os.cpu_count(), " MAX_JOBS:", os.environ.get("MAX_JOBS"))
t0 = time.perf_counter()
import torch  # noqa
print(f"torch {torch.__version__}; import {time.perf_counter()-t0:.1f}s")
import _tb_ext
cold = _tb_ext.build()
print(f"cold build+load (fresh build dir): {cold:.1f}s")
# warm: new process, same build dir -> ninja no-op + dlopen
out = subprocess.run([sys.executable, "-c", "import _tb_ext,time;print(f'{_tb_ext.build():.2f}')"],
                     capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(__file__)))
print(f"warm (cached) build+load in a new process: {out.stdout.strip()}s")
import torch
c = torch.classes.effmodel.Counter(3)
print("Counter(3).get() =", c.get(), "; add(zeros(2)) =", c.add(torch.zeros(2)), "; get() =", c.get())
print("schema:", torch.ops.effmodel.takes_counter.default._schema)
