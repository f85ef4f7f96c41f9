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
        if (e instanceof ProgressEvent.Stage s) {
            closeBar();
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
                bar.setExtraMessage(p.unit());
            }
        } else if (e instanceof ProgressEvent.Done || e instanceof ProgressEvent.Failed) {
            closeBar();
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
