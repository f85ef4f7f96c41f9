package org.distillery.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;

/**
 * Shows a job's progress events as one progress bar per stage on the terminal (stderr), with the latest training
 * and validation losses beside it, as tqdm users expect. A job that ends early (stopped, failed) leaves its bar
 * where it stopped; only a finished one is drawn full.
 */
final class TerminalProgress implements ProgressListener {
    private ProgressBar bar;
    private String unit = "";
    private String loss = "";
    private String valLoss = "";

    @Override
    public synchronized void on(ProgressEvent e) {
        if (e instanceof ProgressEvent.Stage s) {
            closeBar(true);
            unit = "";
            bar = new ProgressBarBuilder()
                    .setTaskName(String.format("[%d/%d] %s", s.index(), s.stages(), s.stage()))
                    .setInitialMax(-1)
                    .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK)
                    .setUpdateIntervalMillis(200)
                    .continuousUpdate()
                    .build();
        } else if (e instanceof ProgressEvent.Progress p) {
            if (bar != null && p.total() > 0) {
                bar.maxHint(p.total());
                bar.stepTo(p.done());
                unit = p.unit() != null ? p.unit() : "";
                showMessage();
            }
        } else if (e instanceof ProgressEvent.Metric m) {
            if (m.name().equals("train/loss")) {
                loss = String.format("loss %.4f", m.value());
                showMessage();
            } else if (m.name().equals("val/loss")) {
                valLoss = String.format("val %.4f", m.value());
                showMessage();
            }
        } else if (e instanceof ProgressEvent.Done) {
            closeBar(true);
        } else if (e instanceof ProgressEvent.Failed) {
            closeBar(false);
        }
    }

    /** The text beside the bar: the unit, then the latest losses. */
    static String message(String unit, String loss, String valLoss) {
        StringBuilder b = new StringBuilder(unit);
        for (String part : new String[] {loss, valLoss}) {
            if (!part.isEmpty()) {
                b.append(b.length() > 0 ? ", " : "").append(part);
            }
        }
        return b.toString();
    }

    private void showMessage() {
        if (bar != null) {
            bar.setExtraMessage(message(unit, loss, valLoss));
        }
    }

    private void closeBar(boolean finished) {
        if (bar != null) {
            if (finished && bar.getMax() > 0) {
                bar.stepTo(bar.getMax());
            }
            bar.close();
            bar = null;
        }
    }

    @Override
    public synchronized void close() {
        closeBar(false);
    }
}
