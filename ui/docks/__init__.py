"""One dock widget per workstation task: queue, verification, label, inventory, pickup."""
