"""Hand-off to the chips' flows: target-legal, quantised models (`train --target`, `deploy --target`)."""
