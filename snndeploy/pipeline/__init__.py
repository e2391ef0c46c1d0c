"""Multi-step jobs over the library, each one call from Python and one thin CLI command.

- ``export_all``: fold → NIR (nested, flat) + ONNX step model (``export.py``);
- ``verify_checkpoint``: load → fold → export → verify → report (``verify.py``);
- ``check_nir_file``: a foreign NIR file in nirsim and every installed peer, units, energy, hw-check
  (``check_nir.py``);
- ``energy_of_file``: count a checkpoint or NIR graph on a dataset and price it (``energy.py``);
- ``demo_train`` / ``demo_verify`` / ``demo_energy``: the demo's steps (``demo.py``).
"""

from .check_nir import check_nir_file
from .demo import DEMO_PEERS, demo_energy, demo_train, demo_verify, write_summary
from .energy import energy_of_file
from .export import Artifacts, export_all
from .verify import verify_checkpoint

__all__ = [
    "Artifacts", "export_all", "check_nir_file", "verify_checkpoint", "energy_of_file",
    "DEMO_PEERS", "demo_train", "demo_verify", "demo_energy", "write_summary",
]
