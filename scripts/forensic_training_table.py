"""Print the training record of every registered forensic weight set as a markdown table.

The numbers in docs/training.md's forensic section come from this script, which reads only
weights/manifest.json (what `fcc train-adapter` recorded):

    python scripts/forensic_training_table.py [--weights-dir weights]
"""

from __future__ import annotations

from pathlib import Path

import click

from forensiccodec.zoo import Manifest

KINDS = ("adapters", "finetuned-codec")


@click.command()
@click.option("--weights-dir", type=click.Path(path_type=Path, file_okay=False), default=None)
def main(weights_dir: Path | None) -> None:
    manifest = Manifest.load(weights_dir)
    rows = []
    for name, entry in sorted(manifest.entries.items()):
        record = entry.extra.get("training")
        if entry.kind not in KINDS or not record:
            continue
        # With --keep-best the exported weights are those of the kept validation, not the last.
        validation = record.get("kept_validation") or record.get("validation") or {}
        scale = record.get("lambda_scale", 1.0)
        lmbda = f"{record['lambda']} (×{scale:g} in the loss)" if scale != 1.0 else f"{record['lambda']}"
        data = Path(record.get("data", "")).name
        device = "GPU" if str(record.get("device", "cpu")).startswith("cuda") else "CPU"
        rows.append(
            f"| {name} | {record['placement']} | {lmbda} | {data} | {record['trainable_parameters']:,} "
            f"| {record['batch_size']} | {record['k_patches']} | {record['steps']} | {validation.get('step', '–')} "
            f"| {record['epochs']} | {record['seconds_per_step']} ({device}) "
            f"| {validation.get('accuracy', float('nan')):.3f} | {validation.get('auc', float('nan')):.3f} "
            f"| {validation.get('psnr', float('nan')):.2f} | {validation.get('est_bpp', float('nan')):.4f} |"
        )
    click.echo("| weights | placement | λ | data | trainable parameters | batch | patches | steps | exported step | epochs "
               "| s/step | val. accuracy | val. AUC | val. PSNR | val. est. bpp |")
    click.echo("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        click.echo(row)


if __name__ == "__main__":
    main()
