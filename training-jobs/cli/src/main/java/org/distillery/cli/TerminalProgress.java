package org.distillery.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.distillery.core.progress.ProgressEvent;
import org.distillery.core.progress.ProgressListener;

/** Shows a job's progress events as one progress bar per stage on the terminal (stderr). */
final class TerminalProgress implements ProgressListener {
    private ProgressBar bar;

    @Override
    public synchronized void on(ProgressEvent e) {
        switch (e.type()) {
            case "stage" -> {
                closeBar();
                bar = new ProgressBarBuilder()
                        .setTaskName(String.format("[%d/%d] %s", e.index(), e.stages(), e.stage()))
                        .setInitialMax(-1)
                        .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK)
                        .setUpdateIntervalMillis(200)
                        .continuousUpdate()
                        .build();
            }
            case "progress" -> {
                if (bar != null && e.total() != null && e.total() > 0) {
                    bar.maxHint(e.total());
                    bar.stepTo(e.done());
                    bar.setExtraMessage(e.unit());
                }
            }
            case "done", "failed" -> closeBar();
            default -> {
            }
        }
    }

    private void closeBar() {
        if (bar != null) {
            if (bar.getMax() > 0) {
                bar.stepTo(bar.getMax());
            }
            bar.close();
            bar = null;
        }
    }

    @Override
    public synchronized void close() {
        closeBar();
    }
}
