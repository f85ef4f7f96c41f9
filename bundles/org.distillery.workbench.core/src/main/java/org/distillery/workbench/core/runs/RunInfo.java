package org.distillery.workbench.core.runs;

/**
 * A tracked run as a store lists it.
 *
 * @param id          the run's id in its store (the local store's id, or MLflow's)
 * @param experiment  the experiment's name
 * @param name        the run's name ({@code train-demo})
 * @param status      RUNNING, FINISHED, FAILED or KILLED
 * @param startTime   epoch milliseconds
 * @param endTime     epoch milliseconds, 0 while running
 * @param parentRunId the pipeline run it is nested under, or null
 * @param localId     the id the job announced in its progress events (the local store's id; MLflow runs
 *                    mirrored from it carry it as their {@code distillery.local_run_id} tag), or null
 */
public record RunInfo(String id, String experiment, String name, String status, long startTime, long endTime,
                      String parentRunId, String localId) {

    public boolean running() {
        return "RUNNING".equals(status);
    }

    /** Whether a job's announced run id names this run. */
    public boolean is(String announcedId) {
        return announcedId != null && (announcedId.equals(id) || announcedId.equals(localId));
    }
}
