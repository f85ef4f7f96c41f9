package org.distillery.workbench;

import org.eclipse.jface.text.source.Annotation;
import org.eclipse.jface.text.source.IAnnotationAccess;
import org.eclipse.jface.text.source.IAnnotationAccessExtension;
import org.eclipse.swt.SWT;
import org.eclipse.swt.graphics.GC;
import org.eclipse.swt.graphics.Rectangle;
import org.eclipse.swt.widgets.Canvas;

/**
 * The spec editor's problem markers: one annotation type, drawn in the ruler as a red error sign and
 * under the line as squiggles, with the engine's message as its text (the ruler's hover shows it).
 */
final class SpecProblemAnnotations implements IAnnotationAccess, IAnnotationAccessExtension {
    static final String TYPE = "org.distillery.workbench.specProblem";

    static Annotation problem(String message) {
        return new Annotation(TYPE, false, message);
    }

    @Override
    public Object getType(Annotation annotation) {
        return annotation.getType();
    }

    @Override
    public boolean isMultiLine(Annotation annotation) {
        return false;
    }

    @Override
    public boolean isTemporary(Annotation annotation) {
        return true;
    }

    @Override
    public String getTypeLabel(Annotation annotation) {
        return "Spec problem";
    }

    @Override
    public int getLayer(Annotation annotation) {
        return 1;
    }

    @Override
    public void paint(Annotation annotation, GC gc, Canvas canvas, Rectangle bounds) {
        int size = Math.min(12, Math.min(bounds.width, bounds.height) - 2);
        int x = bounds.x + (bounds.width - size) / 2;
        int y = bounds.y + (bounds.height - size) / 2;
        gc.setAntialias(SWT.ON);
        gc.setBackground(canvas.getDisplay().getSystemColor(SWT.COLOR_RED));
        gc.fillOval(x, y, size, size);
        gc.setForeground(canvas.getDisplay().getSystemColor(SWT.COLOR_WHITE));
        gc.setLineWidth(2);
        int in = size / 3;
        gc.drawLine(x + in, y + in, x + size - in, y + size - in);
        gc.drawLine(x + size - in, y + in, x + in, y + size - in);
    }

    @Override
    public boolean isPaintable(Annotation annotation) {
        return TYPE.equals(annotation.getType());
    }

    @Override
    public boolean isSubtype(Object annotationType, Object potentialSupertype) {
        return annotationType.equals(potentialSupertype);
    }

    @Override
    public Object[] getSupertypes(Object annotationType) {
        return new Object[0];
    }
}
