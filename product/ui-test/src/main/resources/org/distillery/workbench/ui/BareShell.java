import java.lang.management.ManagementFactory;
import org.eclipse.swt.SWT;
import org.eclipse.swt.widgets.Display;
import org.eclipse.swt.widgets.Shell;

/** The floor of the cold-start benchmark: an empty SWT shell of the workbench's size, on the same JVM and SWT. */
public class BareShell {
    public static void main(String[] args) {
        Display display = new Display();
        Shell shell = new Shell(display);
        shell.setText("Bare SWT shell");
        shell.setSize(1280, 800);
        boolean[] painted = {false};
        shell.addListener(SWT.Paint, e -> {
            if (!painted[0]) {
                painted[0] = true;
                System.out.println("bare.firstpaint " + ManagementFactory.getRuntimeMXBean().getUptime());
                System.out.flush();
            }
        });
        shell.open();
        while (!shell.isDisposed()) {
            if (!display.readAndDispatch()) {
                display.sleep();
            }
        }
        display.dispose();
    }
}
