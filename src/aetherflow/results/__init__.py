"""Every result AetherFlow writes, as versioned pydantic models: the one source of truth that
every view (terminal, Markdown, HTML, PNG) renders and ``aetherflow report`` re-renders.

* :mod:`~aetherflow.results.run` -- ``run.json``: one run of one plan (:class:`RunRecord`);
* :mod:`~aetherflow.results.bench` -- ``benchmark_data.json``: a plan repeated
  (:class:`BenchmarkData`);
* :mod:`~aetherflow.results.comparison` -- ``comparison_data.json``: two benches compared
  (:class:`ComparisonData`);
* :mod:`~aetherflow.results.suite` -- ``suite_data.json``: plans x variants
  (:class:`SuiteData`);
* :mod:`~aetherflow.results.focused` -- ``focused_data.json``: a focused benchmark's pairs
  and headline (:class:`FocusedData`);
* :func:`~aetherflow.results.load.load_result` reads any of them by its ``kind``.

The benchmark code produces these; the report code renders them; neither imports the other.
"""
