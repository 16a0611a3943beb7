"""``python -m tailorlm.train`` and ``accelerate launch -m tailorlm.train``.

Single process it behaves like ``tailorlm train``. Under ``accelerate launch`` (several processes,
DeepSpeed ZeRO or FSDP via the yaml files in ``tailorlm/train/configs``) or ``torchrun`` (several
CPU processes, gloo DDP) every process builds the same batch plan and takes its share; the data
stage runs on the main process first.

Examples::

    python -m tailorlm.train --spec tailor.yaml
    torchrun --nproc_per_node 2 -m tailorlm.train --spec tailor.yaml          # CPU processes
    accelerate launch --config_file $(python -m tailorlm.train --config-path deepspeed_zero2) \
        -m tailorlm.train --spec tailor.yaml                                    # GPUs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CONFIGS = Path(__file__).parent / "configs"


def dataset_from_folder(path: Path):
    """A DatasetVersion for a dataset-version folder (manifest.json + parquet files)."""
    import pandas as pd

    from ..results import DatasetVersion

    manifest = json.loads((path / "manifest.json").read_text()) if (path / "manifest.json").exists() else {}
    labels = manifest.get("labels")
    if labels is None:
        col = pd.read_parquet(path / "train.parquet", columns=["label"])["label"]
        labels = sorted(str(x) for x in col.dropna().unique())
    return DatasetVersion(name=manifest.get("name", path.parent.name), version=manifest.get("version", path.name),
                          path=str(path), labels=list(labels), counts=manifest.get("counts", {}))


def _in_launcher() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 or any(
        os.environ.get(k, "").lower() == "true" for k in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tailorlm.train", description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="tailor.yaml", help="tailor.yaml or its folder")
    ap.add_argument("--resume", action="store_true", help="continue the last unfinished run")
    ap.add_argument("--dataset", type=Path, help="a dataset-version folder (default: run the data stage)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--config-path", metavar="NAME", help="print the path of a shipped accelerate config and exit")
    args = ap.parse_args(argv)
    import logging

    # A launcher's log is the run's record for whoever watches it: say what was resumed, in what precision.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.config_path:
        print(CONFIGS / f"{args.config_path}.yaml")
        return 0
    from ..spec import SpecError, load_spec
    from ..workspace import Workspace
    from .run import run_training

    try:
        spec = load_spec(args.spec)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ws = Workspace.for_spec(spec)
    accelerator = None
    if _in_launcher():
        import torch
        from accelerate import Accelerator

        # cpu=True makes accelerate use gloo DDP across CPU processes started by torchrun.
        accelerator = Accelerator(cpu=not torch.cuda.is_available())
    if args.dataset is not None:
        dataset = dataset_from_folder(args.dataset)
    else:
        from contextlib import nullcontext

        from ..pipeline import run_pipeline

        with accelerator.main_process_first() if accelerator else nullcontext():
            dataset = run_pipeline(spec, ws, progress=not args.no_progress, until="data").dataset
    from ..errors import UserError

    try:
        run = run_training(spec, ws, dataset, resume=args.resume, progress=not args.no_progress,
                           accelerator=accelerator)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if accelerator is None or accelerator.is_main_process:
        print(json.dumps(run.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
