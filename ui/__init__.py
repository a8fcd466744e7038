"""RxBench's Qt user interface: windows, docks and dialogs; presents and forwards only."""
