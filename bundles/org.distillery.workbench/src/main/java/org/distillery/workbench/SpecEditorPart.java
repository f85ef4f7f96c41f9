package org.distillery.workbench;

import jakarta.annotation.PostConstruct;
import jakarta.inject.Inject;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.distillery.workbench.core.engine.EngineQuery;
import org.distillery.workbench.core.engine.JobLaunch;
import org.distillery.workbench.core.specs.SpecValidation;
import org.eclipse.core.runtime.CoreException;
import org.eclipse.e4.ui.di.Persist;
import org.eclipse.e4.ui.model.application.MApplication;
import org.eclipse.e4.ui.model.application.ui.MDirtyable;
import org.eclipse.e4.ui.model.application.ui.basic.MPart;
import org.eclipse.e4.ui.model.application.ui.basic.MPartStack;
import org.eclipse.e4.ui.workbench.modeling.EModelService;
import org.eclipse.e4.ui.workbench.modeling.EPartService;
import org.eclipse.jface.dialogs.MessageDialog;
import org.eclipse.jface.text.BadLocationException;
import org.eclipse.jface.text.Document;
import org.eclipse.jface.text.IRegion;
import org.eclipse.jface.text.Position;
import org.eclipse.jface.text.source.AnnotationModel;
import org.eclipse.jface.text.source.AnnotationPainter;
import org.eclipse.jface.text.source.AnnotationRulerColumn;
import org.eclipse.jface.text.source.CompositeRuler;
import org.eclipse.jface.text.source.DefaultAnnotationHover;
import org.eclipse.jface.text.source.LineNumberRulerColumn;
import org.eclipse.jface.text.source.SourceViewer;
import org.eclipse.swt.SWT;
import org.eclipse.swt.custom.SashForm;
import org.eclipse.swt.graphics.Font;
import org.eclipse.swt.layout.GridData;
import org.eclipse.swt.widgets.Combo;
import org.eclipse.swt.widgets.Composite;
import org.eclipse.swt.widgets.Label;
import org.eclipse.swt.widgets.Table;
import org.eclipse.swt.widgets.TableItem;
import org.eclipse.jface.resource.JFaceResources;

/**
 * A job spec in a text editor. Saving (Ctrl+S) writes the file atomically and has the engine validate
 * it as its job would ({@code distillery validate}); each problem becomes a marker on its line (a sign
 * in the ruler, squiggles under the text, the message on hover) and a row in the problems table.
 * Run launches the spec as a "Distillery job" launch configuration.
 */
public class SpecEditorPart {
    static final String DESCRIPTOR = "org.distillery.workbench.partdescriptor.spec";
    static final String SPEC = "spec";
    public static final String MAIN_STACK = "org.distillery.workbench.stack.main";

    @Inject
    WorkbenchSettings settings;
    @Inject
    MDirtyable dirty;
    @Inject
    EPartService parts;

    private Path file;
    private SourceViewer viewer;
    private Document document;
    private final AnnotationModel annotations = new AnnotationModel();
    private Combo kind;
    private Table problems;
    private Label status;
    private SpecValidation last;

    /** Opens {@code spec} in its editor, reusing the one already open for it. */
    public static MPart open(EPartService parts, EModelService models, MApplication app, Path spec) {
        String key = spec.toAbsolutePath().normalize().toString();
        for (MPart p : parts.getParts()) {
            if (DESCRIPTOR.equals(p.getElementId()) && key.equals(p.getPersistedState().get(SPEC))) {
                parts.showPart(p, EPartService.PartState.ACTIVATE);
                return p;
            }
        }
        MPart part = parts.createPart(DESCRIPTOR);
        part.setLabel(spec.getFileName().toString());
        part.setTooltip(key);
        part.getPersistedState().put(SPEC, key);
        ((MPartStack) models.find(MAIN_STACK, app)).getChildren().add(part);
        parts.showPart(part, EPartService.PartState.ACTIVATE);
        return part;
    }

    @PostConstruct
    public void create(Composite parent, MPart part) {
        file = Path.of(part.getPersistedState().get(SPEC));
        Composite top = Widgets.bar(parent, 6);
        status = Widgets.status(top, "editor.status");
        new Label(top, SWT.NONE).setText("Job");
        kind = Widgets.named(new Combo(top, SWT.READ_ONLY), "editor.kind");
        for (JobLaunch.Kind k : JobLaunch.Kind.values()) {
            kind.add(k.command());
        }
        kind.addListener(SWT.Selection, e -> validate());
        Widgets.button(top, "Save", "editor.save", this::save);
        Widgets.button(top, "Validate", "editor.validate", this::validate);
        Widgets.button(top, "Run", "editor.run", this::run);

        SashForm sash = new SashForm(parent, SWT.VERTICAL);
        sash.setLayoutData(new GridData(SWT.FILL, SWT.FILL, true, true));
        SpecProblemAnnotations access = new SpecProblemAnnotations();
        CompositeRuler ruler = new CompositeRuler();
        AnnotationRulerColumn markers = new AnnotationRulerColumn(annotations, 16, access);
        markers.addAnnotationType(SpecProblemAnnotations.TYPE);
        ruler.addDecorator(0, markers);
        ruler.addDecorator(1, new LineNumberRulerColumn());
        viewer = new SourceViewer(sash, ruler, SWT.MULTI | SWT.V_SCROLL | SWT.H_SCROLL | SWT.BORDER);
        Widgets.named(viewer.getTextWidget(), "editor.text");
        Font mono = JFaceResources.getTextFont();
        viewer.getTextWidget().setFont(mono);
        viewer.setAnnotationHover(new DefaultAnnotationHover());
        AnnotationPainter squiggles = new AnnotationPainter(viewer, access);
        squiggles.addAnnotationType(SpecProblemAnnotations.TYPE);
        squiggles.setAnnotationTypeColor(SpecProblemAnnotations.TYPE, parent.getDisplay().getSystemColor(SWT.COLOR_RED));
        viewer.addPainter(squiggles);
        problems = Widgets.table(sash, SWT.SINGLE, "editor.problems", "Line:50r", "Field:170", "Problem:640",
                "File:260");
        problems.addListener(SWT.DefaultSelection, e -> reveal());
        sash.setWeights(4, 1);

        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            text = "";
            status.setText(file + ": cannot read: " + e.getMessage());
        }
        document = new Document(text);
        viewer.setDocument(document, annotations);
        document.addDocumentListener(new org.eclipse.jface.text.IDocumentListener() {
            @Override
            public void documentAboutToBeChanged(org.eclipse.jface.text.DocumentEvent event) {
            }

            @Override
            public void documentChanged(org.eclipse.jface.text.DocumentEvent event) {
                dirty.setDirty(true);
            }
        });
        viewer.getTextWidget().addListener(SWT.KeyDown, e -> {
            if ((e.stateMask & SWT.MOD1) != 0 && (e.keyCode == 's' || e.keyCode == 'S')) {
                save();
            }
        });
        try {
            JobLaunch.guess(file).ifPresent(k -> kind.select(k.ordinal()));
        } catch (RuntimeException e) {
            status.setText(e.getMessage());
        }
        validate();
    }

    /** Writes the text to a temporary file beside the spec, syncs it and moves it over the spec. */
    @Persist
    public void save() {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".saving");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(java.nio.ByteBuffer.wrap(document.get().getBytes(StandardCharsets.UTF_8)));
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            dirty.setDirty(false);
        } catch (IOException e) {
            MessageDialog.openError(viewer.getControl().getShell(), "Save", file + ": cannot save: " + e.getMessage());
            return;
        }
        validate();
    }

    /** Has the engine check the saved file as the chosen job would. */
    void validate() {
        if (kind.getSelectionIndex() < 0) {
            status.setText(file.getFileName() + ": choose the kind of job to validate it as");
            return;
        }
        JobLaunch.Kind k = JobLaunch.Kind.values()[kind.getSelectionIndex()];
        status.setText("Validating " + file.getFileName() + " as a " + k.command() + " spec …");
        EngineQuery engine = new EngineQuery(settings.get(), 120);
        EngineQueryJob.start("Distillery: validate " + file.getFileName(), problems,
                () -> SpecValidation.run(engine, k, file), this::show, message -> status.setText(message));
    }

    private void show(SpecValidation v) {
        last = v;
        annotations.removeAllAnnotations();
        problems.removeAll();
        for (SpecValidation.Problem p : v.problems()) {
            boolean here = v.in(file).contains(p);
            Widgets.row(problems, p, String.valueOf(p.line()), p.field() == null ? "" : p.field(), p.message(),
                    here ? "" : p.file().toString());
            if (here) {
                try {
                    IRegion line = document.getLineInformation(Math.min(p.line(), document.getNumberOfLines()) - 1);
                    annotations.addAnnotation(SpecProblemAnnotations.problem(p.message()),
                            new Position(line.getOffset(), Math.max(1, line.getLength())));
                } catch (BadLocationException e) {
                    // the text changed since it was saved; the problem stays in the table
                }
            }
        }
        status.setText(v.valid() ? file.getFileName() + ": a valid " + v.kind().command() + " spec"
                : file.getFileName() + ": " + v.problems().size() + (v.problems().size() == 1 ? " problem" : " problems")
                        + " (" + v.kind().command() + " spec)");
    }

    private void reveal() {
        TableItem[] sel = problems.getSelection();
        if (sel.length == 0) {
            return;
        }
        revealLine(((SpecValidation.Problem) sel[0].getData()).line());
    }

    /** Selects line {@code number} (1-based; the last line when the text is shorter) and scrolls it into view. */
    public void revealLine(int number) {
        try {
            IRegion line = document.getLineInformation(Math.max(1, Math.min(number, document.getNumberOfLines())) - 1);
            viewer.setSelectedRange(line.getOffset(), line.getLength());
            viewer.revealRange(line.getOffset(), line.getLength());
            viewer.getTextWidget().setFocus();
        } catch (BadLocationException e) {
            // the line is gone from the edited text
        }
    }

    /** Saves, then runs the spec as a Distillery launch configuration, unless it has problems. */
    void run() {
        if (dirty.isDirty()) {
            save();
        }
        if (last != null && !last.valid()) {
            MessageDialog.openError(viewer.getControl().getShell(), "Run " + file.getFileName(), file.getFileName()
                    + " has " + last.problems().size() + " problems; the job would stop at the first:\n\n"
                    + last.problems().get(0).display());
            return;
        }
        if (kind.getSelectionIndex() < 0) {
            status.setText("Choose the kind of job first");
            return;
        }
        try {
            LaunchConfigurations.launch(new JobLaunch(JobLaunch.Kind.values()[kind.getSelectionIndex()], file, false,
                    ""));
            parts.showPart("org.distillery.workbench.part.jobs", EPartService.PartState.VISIBLE);
        } catch (CoreException e) {
            MessageDialog.openError(viewer.getControl().getShell(), "Run " + file.getFileName(),
                    e.getStatus().getMessage());
        }
    }

    /** The lines (1-based) that carry a problem marker now, in order. */
    public List<Integer> markedLines() {
        List<Integer> lines = new java.util.ArrayList<>();
        annotations.getAnnotationIterator().forEachRemaining(a -> {
            try {
                lines.add(document.getLineOfOffset(annotations.getPosition(a).getOffset()) + 1);
            } catch (BadLocationException e) {
                // a marker outside the text; not shown either
            }
        });
        java.util.Collections.sort(lines);
        return lines;
    }
}
