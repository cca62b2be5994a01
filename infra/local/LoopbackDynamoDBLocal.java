// Starts AWS's DynamoDB Local listening on 127.0.0.1 only.
//
// DynamoDB Local has no option for the address it listens on and binds every
// interface; the local stack must stay on loopback, so this launcher builds the
// server from the usual command line (ServerRunner) and pins its one Jetty
// connector to 127.0.0.1 before starting it. Run by infra/local/dynamodb.py with
// Java's single-file source launcher: nothing to compile or commit.
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost("127.0.0.1");
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on 127.0.0.1");
    }
}
